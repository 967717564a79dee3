//! Bounded lists of the latest ids a state record keeps, newest last: how a processor
//! recognises a command or a checkout it has handled before without a store of its own.

/// Appends `id` to `ids` and drops the oldest beyond `most`.
pub(crate) fn remember(ids: &mut Vec<String>, id: &str, most: usize) {
    ids.push(id.to_owned());
    let excess = ids.len().saturating_sub(most);
    ids.drain(..excess);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_latest_ids_newest_last() {
        let mut ids = Vec::new();
        for n in 1..=5 {
            remember(&mut ids, &format!("c{n}"), 3);
        }
        assert_eq!(ids, ["c3", "c4", "c5"]);
    }
}
