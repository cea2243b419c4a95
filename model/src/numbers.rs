//! Display numbers: each issuing node draws from its own blocks of the office
//! configuration, so two kiosks cut off from each other never hand out the same number.

use crate::config::OfficeConfig;
use crate::day::{ActionError, Day};
use crate::ids::NodeId;

/// The next free number of `node`'s blocks: the first number above every number the
/// node has issued today. Numbers are durable in the day, so a restarted node goes on
/// where it stopped.
pub fn next_number(config: &OfficeConfig, day: &Day, node: &NodeId) -> Result<u32, ActionError> {
    let used = day.highest_number_of(node);
    let mut blocks = config.blocks_of(node).peekable();
    if blocks.peek().is_none() {
        return Err(ActionError::NoNumberBlock(node.clone()));
    }
    blocks
        .find_map(|b| match used {
            None => Some(b.first),
            Some(u) if u < b.first => Some(b.first),
            Some(u) if u < b.last => Some(u + 1),
            Some(_) => None,
        })
        .ok_or_else(|| ActionError::NumbersExhausted(node.clone()))
}
