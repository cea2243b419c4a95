//! The admins' statistics: `/admin/statistics?from=…&to=…` (tables per service,
//! department, desk and day, and a chart of the visitors per day) and
//! `/admin/statistics.csv` (the same days as CSV). Admins only ([`AdminIn`]).

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::NaiveDate;
use serde::Deserialize;

use super::admin::{AdminField, AdminIn, AdminPage, Group, Table};
use super::blocking;
use super::pages::render;
use crate::Portal;
use crate::i18n::Lang;
use crate::statistics::{self as stats, Figures, MAX_DAYS, Span, minutes};

#[derive(Debug, Deserialize)]
pub struct SpanQuery {
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
}

/// Why a span is not shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SpanProblem {
    NotADate(&'static str),
    Backwards,
    TooLong,
}

/// The span asked for: the last 30 days up to today by default; a date in the
/// office's `YYYY-MM-DD`.
fn span_of(q: &SpanQuery, today: NaiveDate) -> Result<(NaiveDate, NaiveDate), SpanProblem> {
    let parse = |text: &str, field: &'static str, default: NaiveDate| {
        let text = text.trim();
        if text.is_empty() {
            return Ok(default);
        }
        if text.len() > 10 {
            return Err(SpanProblem::NotADate(field));
        }
        NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| SpanProblem::NotADate(field))
    };
    let to = parse(&q.to, "to", today)?;
    let from = parse(&q.from, "from", to - chrono::Days::new(29))?;
    if from > to {
        return Err(SpanProblem::Backwards);
    }
    if (to - from).num_days() >= MAX_DAYS {
        return Err(SpanProblem::TooLong);
    }
    Ok((from, to))
}

/// The days of the span the office has a record of (read off the runtime: today's
/// is counted from the day itself).
async fn load(
    portal: &Arc<Portal>,
    lang: Lang,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Span, Response> {
    let p = portal.clone();
    blocking(lang, move || {
        Ok(Span {
            days: from
                .iter_days()
                .take_while(|d| *d <= to)
                .filter_map(|d| p.office.statistics(d))
                .collect(),
        })
    })
    .await
}

fn today(portal: &Portal) -> NaiveDate {
    portal.config().local_date(portal.now())
}

fn span_form(page: AdminPage, l: Lang, from: &str, to: &str) -> AdminPage {
    let mut page = page.with_form(
        "/admin/statistics",
        vec![Group {
            legend: Some(l.pick("Zeitraum", "Period").to_owned()),
            fields: vec![
                AdminField::text("from", l.pick("Von", "From"), from).kind("date", "off"),
                AdminField::text("to", l.pick("Bis", "To"), to).kind("date", "off"),
            ],
        }],
        l.pick("Anzeigen", "Show"),
    );
    if let Some(form) = &mut page.form {
        form.method = "get";
    }
    page
}

/// A table's column heads in the page's language.
fn heads(l: Lang, names: &[(&'static str, &'static str)]) -> Vec<String> {
    names
        .iter()
        .map(|(de, en)| l.pick(de, en).to_owned())
        .collect()
}

/// A day as the page's language writes it.
fn day(l: Lang, date: NaiveDate) -> String {
    match l {
        Lang::De => date.format("%d.%m.%Y").to_string(),
        Lang::En => date.to_string(),
    }
}

fn figure_heads(l: Lang, first: &str) -> Vec<String> {
    [
        first,
        l.pick("Besucher", "Visitors"),
        l.pick("Wartemarken", "Walk-ins"),
        l.pick("Termine", "Appointments"),
        l.pick("Nicht erschienen", "No-shows"),
        l.pick("Wartezeit Ø (min)", "Wait mean (min)"),
        l.pick("Wartezeit 90 % (min)", "Wait p90 (min)"),
        l.pick("Bearbeitung Ø (min)", "Handling mean (min)"),
        l.pick("Bearbeitung 90 % (min)", "Handling p90 (min)"),
        l.pick("Schätzfehler Ø (min)", "Estimate error mean (min)"),
    ]
    .into_iter()
    .map(str::to_owned)
    .collect()
}

fn figure_row(l: Lang, name: String, f: &Figures) -> Vec<String> {
    vec![
        name,
        f.visitors.to_string(),
        f.walk_ins.to_string(),
        f.appointments.to_string(),
        f.no_shows.to_string(),
        minutes(f.mean_wait, l),
        minutes(f.p90_wait, l),
        minutes(f.mean_handling, l),
        minutes(f.p90_handling, l),
        minutes(f.mean_estimate_error, l),
    ]
}

pub async fn page(
    State(portal): State<Arc<Portal>>,
    admin: AdminIn,
    Query(q): Query<SpanQuery>,
) -> Response {
    let l = admin.ctx.lang;
    let page = AdminPage::of(
        &admin,
        &portal,
        "/admin/statistics",
        l.pick("Statistik", "Statistics"),
    );
    let (from, to) = match span_of(&q, today(&portal)) {
        Ok(span) => span,
        Err(problem) => {
            let mut page = span_form(page, l, &q.from, &q.to);
            match problem {
                SpanProblem::NotADate(field) => page.problem(
                    field,
                    l.pick(
                        "Geben Sie ein Datum wie 2026-11-25 ein.",
                        "Enter a date like 2026-11-25.",
                    ),
                ),
                SpanProblem::Backwards => page.problem(
                    "from",
                    l.pick("„Von“ liegt nach „Bis“.", "\"From\" is after \"To\"."),
                ),
                SpanProblem::TooLong => page.problem(
                    "from",
                    l.pick(
                        "Höchstens 366 Tage auf einmal.",
                        "At most 366 days at once.",
                    ),
                ),
            }
            return render(&admin.ctx, StatusCode::UNPROCESSABLE_ENTITY, &page);
        }
    };
    let span = match load(&portal, l, from, to).await {
        Ok(span) => span,
        Err(r) => return r,
    };
    let p = portal.clone();
    let feedback = match blocking(l, move || Ok(p.store.feedback_between(from, to)?)).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    let config = portal.config();
    let mut page = span_form(page, l, &from.to_string(), &to.to_string());
    page.intro.push(
        l.pick(
            "Nur Summen und Zeiten, keine Angaben zu Personen. Die Zahlen eines Tages bleiben \
             erhalten, wenn der Tag selbst nach der Aufbewahrungsfrist gelöscht ist.",
            "Only sums and times, nothing about any person. A day's figures stay when the \
             day itself is deleted after the retention period.",
        )
        .to_owned(),
    );
    let feedback_tables = feedback_tables(&config, l, &feedback);
    if span.days.is_empty() {
        page.tables = feedback_tables;
        page.intro.push(
            l.pick(
                "Für diesen Zeitraum gibt es keine Zahlen.",
                "There are no figures for this period.",
            )
            .to_owned(),
        );
        return render(&admin.ctx, StatusCode::OK, &page);
    }
    let total = Figures::of(&span.total());
    page.facts = vec![
        (
            l.pick("Tage mit Zahlen", "Days with figures").to_owned(),
            span.days.len().to_string(),
        ),
        (
            l.pick("Besucher", "Visitors").to_owned(),
            total.visitors.to_string(),
        ),
        (
            l.pick("Wartezeit Ø / 90 %", "Wait mean / p90").to_owned(),
            format!(
                "{} / {} min",
                minutes(total.mean_wait, l),
                minutes(total.p90_wait, l)
            ),
        ),
        (
            l.pick("Nicht erschienen", "No-shows").to_owned(),
            total.no_shows.to_string(),
        ),
    ];
    let by_day = span.by_day();
    page.chart = Some(stats::chart(&by_day, l));
    page.tables = vec![
        Table {
            id: "by-service",
            caption: l.pick("Nach Dienstleistung", "By service").to_owned(),
            head: figure_heads(l, l.pick("Dienstleistung", "Service")),
            rows: span
                .by_service()
                .iter()
                .map(|(id, s)| figure_row(l, stats::service_name(&config, id, l), &Figures::of(s)))
                .collect(),
        },
        Table {
            id: "by-department",
            caption: l.pick("Nach Abteilung", "By department").to_owned(),
            head: figure_heads(l, l.pick("Abteilung", "Department")),
            rows: span
                .by_department(&config)
                .iter()
                .map(|(id, s)| {
                    figure_row(l, stats::department_name(&config, id, l), &Figures::of(s))
                })
                .collect(),
        },
        Table {
            id: "by-desk",
            caption: l.pick("Nach Schalter", "By desk").to_owned(),
            head: heads(
                l,
                &[
                    ("Schalter", "Desk"),
                    ("Bedient", "Served"),
                    ("Nicht erschienen", "No-shows"),
                    ("Bearbeitung Ø (min)", "Handling mean (min)"),
                    ("Bearbeitung 90 % (min)", "Handling p90 (min)"),
                ],
            ),
            rows: span
                .by_desk()
                .iter()
                .map(|(id, d)| {
                    let f = Figures::of_desk(d);
                    let name = config
                        .desks
                        .iter()
                        .find(|x| x.id.as_str() == id)
                        .map_or_else(|| id.clone(), |x| x.name.clone());
                    vec![
                        name,
                        f.served.to_string(),
                        f.no_shows.to_string(),
                        minutes(f.mean_handling, l),
                        minutes(f.p90_handling, l),
                    ]
                })
                .collect(),
        },
        Table {
            id: "by-day",
            caption: l.pick("Nach Tag", "By day").to_owned(),
            head: figure_heads(l, l.pick("Tag", "Day")),
            rows: by_day
                .iter()
                .map(|(date, s)| figure_row(l, day(l, *date), &Figures::of(s)))
                .collect(),
        },
    ];
    page.links.push((
        format!("/admin/statistics.csv?from={from}&to={to}"),
        l.pick("Als CSV herunterladen", "Download as CSV")
            .to_owned(),
    ));
    page.links.push((
        format!("/admin/statistics.json?from={from}&to={to}"),
        l.pick(
            "Als JSON herunterladen (für „aufruf simulate --replay“)",
            "Download as JSON (for `aufruf simulate --replay`)",
        )
        .to_owned(),
    ));
    page.tables.extend(feedback_tables);
    render(&admin.ctx, StatusCode::OK, &page)
}

/// The most recent comments shown.
const COMMENTS_SHOWN: usize = 100;

/// Citizens' feedback of the span: ratings per service, and the latest comments.
fn feedback_tables(
    config: &aufruf_model::OfficeConfig,
    l: Lang,
    feedback: &[crate::store::Feedback],
) -> Vec<Table> {
    if feedback.is_empty() {
        return Vec::new();
    }
    let mut by_service: std::collections::BTreeMap<&str, [u32; 5]> = Default::default();
    for f in feedback {
        if let Some(n) = by_service
            .entry(f.service.as_str())
            .or_default()
            .get_mut(usize::from(f.rating.clamp(1, 5) - 1))
        {
            *n += 1;
        }
    }
    let mean = |counts: &[u32; 5]| {
        let n: u32 = counts.iter().sum();
        let sum: u32 = counts.iter().zip(1..).map(|(c, r)| c * r).sum();
        let text = format!("{:.1}", f64::from(sum) / f64::from(n.max(1)));
        match l {
            Lang::De => text.replace('.', ","),
            Lang::En => text,
        }
    };
    vec![
        Table {
            id: "feedback",
            caption: l
                .pick("Rückmeldungen nach Dienstleistung", "Feedback by service")
                .to_owned(),
            head: [
                l.pick("Dienstleistung", "Service"),
                l.pick("Rückmeldungen", "Responses"),
                l.pick("Ø (1–5)", "Mean (1–5)"),
                "5",
                "4",
                "3",
                "2",
                "1",
            ]
            .into_iter()
            .map(str::to_owned)
            .collect(),
            rows: by_service
                .iter()
                .map(|(service, counts)| {
                    let mut row = vec![
                        stats::service_name(config, service, l),
                        counts.iter().sum::<u32>().to_string(),
                        mean(counts),
                    ];
                    row.extend(counts.iter().rev().map(u32::to_string));
                    row
                })
                .collect(),
        },
        Table {
            id: "comments",
            caption: l
                .pick("Kommentare, die neuesten zuerst", "Comments, newest first")
                .to_owned(),
            head: heads(
                l,
                &[
                    ("Tag", "Day"),
                    ("Dienstleistung", "Service"),
                    ("Bewertung", "Rating"),
                    ("Kommentar", "Comment"),
                ],
            ),
            rows: feedback
                .iter()
                .rev()
                .filter(|f| !f.comment.is_empty())
                .take(COMMENTS_SHOWN)
                .map(|f| {
                    vec![
                        day(l, f.date),
                        stats::service_name(config, &f.service, l),
                        f.rating.to_string(),
                        f.comment.clone(),
                    ]
                })
                .collect(),
        },
    ]
}

pub async fn csv(
    State(portal): State<Arc<Portal>>,
    admin: AdminIn,
    Query(q): Query<SpanQuery>,
) -> Response {
    download(&portal, &admin, &q, "csv", |span, l| {
        // With a byte-order mark: spreadsheets then read the umlauts right.
        let body = format!("\u{feff}{}", stats::csv(span, &portal.config(), l));
        ("text/csv; charset=utf-8", body)
    })
    .await
}

/// The days' statistics as kept (counts, times, hours; no personal data): what
/// `aufruf simulate --replay` runs again.
pub async fn json(
    State(portal): State<Arc<Portal>>,
    admin: AdminIn,
    Query(q): Query<SpanQuery>,
) -> Response {
    download(&portal, &admin, &q, "json", |span, _| {
        // Plain data (maps with string keys, numbers): it always serialises.
        let body = serde_json::to_string_pretty(&span.days).unwrap_or_default();
        ("application/json", body)
    })
    .await
}

/// A span's statistics as a file to download, in the form `body` gives.
async fn download(
    portal: &Arc<Portal>,
    admin: &AdminIn,
    q: &SpanQuery,
    extension: &str,
    body: impl FnOnce(&stats::Span, Lang) -> (&'static str, String),
) -> Response {
    let l = admin.ctx.lang;
    let Ok((from, to)) = span_of(q, today(portal)) else {
        return (
            StatusCode::UNPROCESSABLE_ENTITY,
            l.pick("Kein gültiger Zeitraum.", "Not a valid period."),
        )
            .into_response();
    };
    let span = match load(portal, l, from, to).await {
        Ok(span) => span,
        Err(r) => return r,
    };
    let (content_type, body) = body(&span, l);
    (
        [
            (header::CONTENT_TYPE, content_type.to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"statistik-{from}-{to}.{extension}\""),
            ),
        ],
        body,
    )
        .into_response()
}
