//! Every integration test of this crate in one binary: one link, not one per file.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

mod common;

mod admin;
mod app;
mod booking;
mod concurrency;
mod legal;
mod pages;
mod smtp;
mod ticket;
mod waitlist;
