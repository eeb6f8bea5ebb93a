//! Small helpers for the rule lists of check sections.

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use crate::error::BuildError;

/// Fails when two rules of a list share an id. `field_of(i)` is the field
/// of the `i`-th id (such as `high_risk.rules[7].id`); the error names the
/// later duplicate and says where the first one is.
///
/// ```
/// use medguard::policy::check_unique_ids;
///
/// let ids = ["stroke.face", "stroke.arm", "stroke.face"];
/// let e = check_unique_ids(|i| format!("high_risk.rules[{i}].id"), ids).unwrap_err();
/// assert_eq!(e.field(), "high_risk.rules[2].id");
/// assert_eq!(e.message(), "duplicate rule id `stroke.face` (first at high_risk.rules[0].id)");
/// ```
///
/// # Errors
///
/// A [`BuildError`] at the first duplicate.
pub fn check_unique_ids<'a>(
    field_of: impl Fn(usize) -> String,
    ids: impl IntoIterator<Item = &'a str>,
) -> Result<(), BuildError> {
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for (i, id) in ids.into_iter().enumerate() {
        match seen.entry(id) {
            Entry::Occupied(first) => {
                return Err(BuildError::new(
                    field_of(i),
                    format!("duplicate rule id `{id}` (first at {})", field_of(*first.get())),
                ));
            }
            Entry::Vacant(v) => {
                v.insert(i);
            }
        }
    }
    Ok(())
}
