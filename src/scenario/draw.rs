//! Randomised parameters: wherever a scenario takes a number it may give
//! `{ between = [lo, hi] }` (integers, inclusive) or `{ one_of = [a, b, …] }` instead.
//!
//! Loading finds these *draw sites* in the parsed document, checks them (located
//! errors: `lo ≤ hi`, a non-empty `one_of`, every bound within the limits a plain value
//! is held to — lowering checks the scenario with each site at each of its extremes),
//! and keeps the scenario (as a JSON tree with every site at its first value) with the
//! list of sites. [`Draws::instantiate`] is the draw pass: for a scenario seed it draws
//! each site's value, sets it, and lowers the result into a concrete [`Plan`], recording
//! the values by key path (`faults[0].toxic.latency_ms`).
//!
//! Each site draws from a generator of its own, seeded with the scenario seed mixed
//! with the site's key path (FNV-1a): adding a range to one fault changes no other
//! site's value, and none of the world's RNG stream (masks, jitter, keys).

use std::collections::BTreeMap;
use std::path::PathBuf;

use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};
use serde_json::Value;

use super::locate::{KeyPath, Seg};
use super::lower::{Invalid, lower};
use super::model::Scenario;
use super::plan::Plan;

/// Most values a `one_of` lists (each is checked at load).
pub const MAX_ONE_OF: usize = 100;
/// Most draw sites in one scenario.
pub const MAX_DRAW_SITES: usize = 1_000;

/// The values drawn for one run of a scenario, by key path.
pub type Drawn = BTreeMap<String, i64>;

/// What a draw site may take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Choice {
    /// Any integer from `lo` to `hi`, both included.
    Between {
        /// The least value.
        lo: i64,
        /// The greatest value.
        hi: i64,
    },
    /// One of these values.
    OneOf(Vec<i64>),
}

impl Choice {
    /// The value the scenario is checked with first (and parsed with): `lo` or the
    /// first of the list.
    pub fn first(&self) -> i64 {
        match self {
            Choice::Between { lo, .. } => *lo,
            Choice::OneOf(v) => v[0],
        }
    }

    /// The values loading checks: both bounds, or every listed value.
    pub fn extremes(&self) -> Vec<i64> {
        let mut v = match self {
            Choice::Between { lo, hi } => vec![*lo, *hi],
            Choice::OneOf(v) => v.clone(),
        };
        v.sort_unstable();
        v.dedup();
        v
    }

    /// The value for scenario seed `seed` at the site `key`: from a generator of the
    /// site's own (uniform; unbiased by rejection).
    pub fn draw(&self, seed: u64, key: &str) -> i64 {
        let mut rng = ChaCha20Rng::seed_from_u64(crate::text::fnv1a(seed, key));
        match self {
            Choice::Between { lo, hi } => {
                let span = hi.abs_diff(*lo);
                if span == u64::MAX {
                    return rng.next_u64() as i64;
                }
                lo.wrapping_add(uniform(&mut rng, span + 1) as i64)
            }
            Choice::OneOf(v) => v[uniform(&mut rng, v.len() as u64) as usize],
        }
    }
}

impl std::fmt::Display for Choice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Choice::Between { lo, hi } => write!(f, "between = [{lo}, {hi}]"),
            Choice::OneOf(v) => write!(
                f,
                "one_of = [{}]",
                v.iter().map(i64::to_string).collect::<Vec<_>>().join(", ")
            ),
        }
    }
}

/// A uniform number below `n` (at least 1).
fn uniform(rng: &mut ChaCha20Rng, n: u64) -> u64 {
    let zone = u64::MAX - (u64::MAX % n);
    loop {
        let x = rng.next_u64();
        if x < zone {
            return x % n;
        }
    }
}

/// One place in the document where a number is drawn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DrawSite {
    /// Where.
    pub path: KeyPath,
    /// The path as text (`steps[3].wait_ms`): the key of drawn values and the site's
    /// generator.
    pub key: String,
    /// What it may take.
    pub choice: Choice,
}

fn invalid(path: &KeyPath, message: impl Into<String>) -> Invalid {
    Invalid { path: path.clone(), message: message.into() }
}

/// The draw sites of a parsed document (a table whose only key is `between` or
/// `one_of`), in document order, checked for shape.
pub fn find_sites(doc: &Value) -> Result<Vec<DrawSite>, Invalid> {
    let mut out = Vec::new();
    walk(doc, &KeyPath::default(), &mut out)?;
    Ok(out)
}

fn walk(v: &Value, path: &KeyPath, out: &mut Vec<DrawSite>) -> Result<(), Invalid> {
    match v {
        Value::Object(m) => {
            let ranged = m.get("between").or_else(|| m.get("one_of"));
            if let Some(list) = ranged.filter(|l| l.is_array()) {
                if m.len() != 1 {
                    return Err(invalid(
                        path,
                        "a randomised number is a table with only `between = [lo, hi]` or only `one_of = [a, b, …]`",
                    ));
                }
                if out.len() >= MAX_DRAW_SITES {
                    return Err(invalid(
                        path,
                        format!("more than {MAX_DRAW_SITES} randomised numbers in one scenario"),
                    ));
                }
                let between = m.contains_key("between");
                let key = if between { "between" } else { "one_of" };
                let at = path.key(key);
                let items = list.as_array().map(Vec::as_slice).unwrap_or_default();
                let mut ints = Vec::with_capacity(items.len());
                for (i, x) in items.iter().enumerate() {
                    match x.as_i64() {
                        Some(n) => ints.push(n),
                        None => {
                            return Err(invalid(
                                &at.index(i),
                                format!(
                                    "{key}: {x} is not an integer (randomised numbers are integers from -2^63 to 2^63-1)"
                                ),
                            ));
                        }
                    }
                }
                let choice = if between {
                    match ints[..] {
                        [lo, hi] if lo <= hi => Choice::Between { lo, hi },
                        [lo, hi] => {
                            return Err(invalid(
                                &at,
                                format!(
                                    "between = [{lo}, {hi}]: the first bound is greater than the second"
                                ),
                            ));
                        }
                        _ => {
                            return Err(invalid(
                                &at,
                                format!(
                                    "between takes two integers [lo, hi] (both included), found {}",
                                    ints.len()
                                ),
                            ));
                        }
                    }
                } else {
                    if ints.is_empty() {
                        return Err(invalid(&at, "one_of needs at least one value"));
                    }
                    if ints.len() > MAX_ONE_OF {
                        return Err(invalid(
                            &at,
                            format!(
                                "one_of has {} values, more than the limit of {MAX_ONE_OF}",
                                ints.len()
                            ),
                        ));
                    }
                    Choice::OneOf(ints)
                };
                out.push(DrawSite { path: path.clone(), key: path.to_string(), choice });
                return Ok(());
            }
            for (k, x) in m {
                walk(x, &path.key(k), out)?;
            }
            Ok(())
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                walk(x, &path.index(i), out)?;
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// The byte range of the table at `start` in `src` (from its `{` to its `}`), or `None`
/// when no inline table starts there.
pub fn table_span(src: &str, start: usize) -> Option<(usize, usize)> {
    let b = src.as_bytes();
    if b.get(start) != Some(&b'{') {
        return None;
    }
    let mut depth = 0i64;
    let mut i = start;
    while i < b.len() {
        match b[i] {
            b'"' | b'\'' => {
                let q = b[i];
                i += 1;
                while i < b.len() && b[i] != q {
                    if b[i] == b'\\' && q == b'"' {
                        i += 1;
                    }
                    i += 1;
                }
            }
            b'{' => depth += 1,
            b'}' => {
                depth -= 1;
                if depth == 0 {
                    return Some((start, i + 1));
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}

/// `src` with the text at `span` replaced by `value`, padded with spaces (line breaks
/// kept) so that every other byte keeps its offset and line.
pub fn splice(src: &mut String, span: (usize, usize), value: i64) -> bool {
    let (from, to) = span;
    let number = value.to_string();
    if number.len() > to - from || !src.is_char_boundary(from) || !src.is_char_boundary(to) {
        return false;
    }
    let mut text = number.clone();
    for (i, c) in src[from..to].char_indices() {
        if i < number.len() {
            continue;
        }
        if c == '\n' || c == '\r' {
            text.push(c);
        } else {
            text.extend(std::iter::repeat_n(' ', c.len_utf8()));
        }
    }
    src.replace_range(from..to, &text);
    true
}

/// Sets the number at `path` in a JSON tree.
fn set(v: &mut Value, path: &KeyPath, value: i64) -> bool {
    let mut node = v;
    for seg in &path.0 {
        node = match (seg, node) {
            (Seg::Key(k), Value::Object(m)) => match m.get_mut(k) {
                Some(n) => n,
                None => return false,
            },
            (Seg::Index(i), Value::Array(a)) => match a.get_mut(*i) {
                Some(n) => n,
                None => return false,
            },
            _ => return false,
        };
    }
    *node = Value::from(value);
    true
}

/// A scenario's randomised numbers: what [`Draws::instantiate`] needs to make the plan
/// of one seed.
#[derive(Debug, Clone)]
pub struct Draws {
    /// The sites, in document order.
    pub sites: Vec<DrawSite>,
    /// The scenario with every site at its first value.
    doc: Value,
    /// The scenario's folder (for `file` references).
    base: PathBuf,
    /// The line of each step.
    step_lines: Vec<usize>,
}

impl Draws {
    /// Keeps `scenario` (parsed with each site at its first value) for drawing.
    pub fn new(
        sites: Vec<DrawSite>,
        scenario: &Scenario,
        base: PathBuf,
        step_lines: Vec<usize>,
    ) -> Result<Draws, String> {
        let doc = serde_json::to_value(scenario)
            .map_err(|e| format!("internal error in wsim: the scenario as a tree: {e}"))?;
        // What is drawn must be what the file says: the tree must read back as it was.
        let back: Scenario = serde_json::from_value(doc.clone())
            .map_err(|e| format!("internal error in wsim: the scenario tree reads back: {e}"))?;
        if &back != scenario {
            return Err(
                "internal error in wsim: the scenario tree does not read back as the file".into()
            );
        }
        Ok(Draws { sites, doc, base, step_lines })
    }

    /// The scenario lowered with `values` (one per site, in order).
    fn lower_with(&self, values: &[i64]) -> Result<Plan, Invalid> {
        let mut doc = self.doc.clone();
        for (site, &v) in self.sites.iter().zip(values) {
            if !set(&mut doc, &site.path, v) {
                return Err(invalid(&site.path, "internal error in wsim: the site is gone"));
            }
        }
        let s: Scenario = serde_json::from_value(doc).map_err(|e| {
            let at = self.sites.first().map(|s| s.path.clone()).unwrap_or_default();
            invalid(&at, e.to_string())
        })?;
        lower(&s, &self.base, &self.step_lines)
    }

    /// Checks every site at each of its extremes (the others at their first value): a
    /// located error names the site and the value.
    pub fn check(&self) -> Result<(), Invalid> {
        let firsts: Vec<i64> = self.sites.iter().map(|s| s.choice.first()).collect();
        for (i, site) in self.sites.iter().enumerate() {
            for v in site.choice.extremes() {
                let mut values = firsts.clone();
                values[i] = v;
                self.lower_with(&values).map_err(|e| {
                    invalid(
                        &site.path,
                        format!("{} = {{ {} }}: with {v}: {}", site.key, site.choice, e.message),
                    )
                })?;
            }
        }
        Ok(())
    }

    /// The values of scenario seed `seed`, by key path.
    pub fn values(&self, seed: u64) -> Drawn {
        self.sites.iter().map(|s| (s.key.clone(), s.choice.draw(seed, &s.key))).collect()
    }

    /// The draw pass: the concrete plan of scenario seed `seed` and the values drawn.
    /// An error (values that are each valid but not together, e.g. a drawn
    /// `size_variation` above a drawn `average_size`) names the problem.
    pub fn instantiate(&self, seed: u64) -> Result<(Plan, Drawn), (String, Drawn)> {
        let values: Vec<i64> = self.sites.iter().map(|s| s.choice.draw(seed, &s.key)).collect();
        let drawn: Drawn =
            self.sites.iter().zip(&values).map(|(s, &v)| (s.key.clone(), v)).collect();
        match self.lower_with(&values) {
            Ok(plan) => Ok((plan, drawn)),
            Err(e) => Err((
                format!("the drawn values do not go together: {}: {}", e.path, e.message),
                drawn,
            )),
        }
    }
}

/// The scenario format's JSON Schema with randomised numbers: every integer also
/// accepts `{ between = [lo, hi] }` or `{ one_of = [a, …] }` (`$defs.RandomisedNumber`).
pub fn schema_with_ranges(mut schema: Value) -> Value {
    fn walk(v: &mut Value) {
        match v {
            Value::Object(m) => {
                m.values_mut().for_each(walk);
                let integer = match m.get("type") {
                    Some(Value::String(t)) => t == "integer",
                    Some(Value::Array(a)) => a.iter().any(|t| t == "integer"),
                    _ => false,
                };
                if integer {
                    let plain = Value::Object(std::mem::take(m));
                    m.insert(
                        "anyOf".into(),
                        serde_json::json!([plain, { "$ref": "#/$defs/RandomisedNumber" }]),
                    );
                }
            }
            Value::Array(a) => a.iter_mut().for_each(walk),
            _ => {}
        }
    }
    walk(&mut schema);
    let range = serde_json::json!({
        "description": "A number drawn from the scenario seed: any integer from lo to hi (both included), or one of a list.",
        "oneOf": [
            {
                "type": "object",
                "properties": { "between": { "type": "array", "items": { "type": "integer" }, "minItems": 2, "maxItems": 2 } },
                "required": ["between"],
                "additionalProperties": false
            },
            {
                "type": "object",
                "properties": { "one_of": { "type": "array", "items": { "type": "integer" }, "minItems": 1, "maxItems": MAX_ONE_OF } },
                "required": ["one_of"],
                "additionalProperties": false
            }
        ]
    });
    if let Some(defs) = schema.get_mut("$defs").and_then(Value::as_object_mut) {
        defs.insert("RandomisedNumber".into(), range);
    }
    schema
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_are_in_range_repeatable_and_per_site() {
        let c = Choice::Between { lo: 10, hi: 20 };
        let mut seen = std::collections::BTreeSet::new();
        for seed in 0..500 {
            let v = c.draw(seed, "faults[0].toxic.latency_ms");
            assert!((10..=20).contains(&v));
            assert_eq!(v, c.draw(seed, "faults[0].toxic.latency_ms"));
            seen.insert(v);
        }
        assert_eq!(seen.len(), 11, "every value comes up");
        let differs = (0..100).filter(|&s| c.draw(s, "a") != c.draw(s, "b")).count();
        assert!(differs > 50, "sites draw independently ({differs} of 100 differ)");
        let o = Choice::OneOf(vec![1, 2, 5]);
        assert!((0..100).all(|s| [1, 2, 5].contains(&o.draw(s, "x"))));
        assert_eq!(Choice::Between { lo: 7, hi: 7 }.draw(3, "x"), 7);
        let full = Choice::Between { lo: i64::MIN, hi: i64::MAX };
        assert_ne!(full.draw(1, "x"), full.draw(2, "x"));
    }

    #[test]
    fn sites_are_found_and_checked_for_shape() {
        let doc = serde_json::json!({
            "faults": [{ "toxic": { "type": "latency", "latency_ms": { "between": [0, 300] } } }],
            "steps": [{ "wait_ms": { "one_of": [1, 2, 5] } }, { "note": { "between": 3 } }],
        });
        let s = find_sites(&doc).unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].key, "faults[0].toxic.latency_ms");
        assert_eq!(s[0].choice, Choice::Between { lo: 0, hi: 300 });
        assert_eq!(s[1].key, "steps[0].wait_ms");
        let bad = |v: Value| find_sites(&serde_json::json!({ "x": v })).unwrap_err();
        let e = bad(serde_json::json!({ "between": [5, 1] }));
        assert!(e.message.contains("greater"), "{}", e.message);
        assert_eq!(e.path.to_string(), "x.between");
        assert!(bad(serde_json::json!({ "between": [1] })).message.contains("two integers"));
        assert!(bad(serde_json::json!({ "one_of": [] })).message.contains("at least one"));
        let e = bad(serde_json::json!({ "one_of": [1, 2.5] }));
        assert!(e.message.contains("not an integer"));
        assert_eq!(e.path.to_string(), "x.one_of[1]");
        assert!(bad(serde_json::json!({ "between": [1, 2], "x": 1 })).message.contains("only"));
    }

    #[test]
    fn the_schema_lets_every_integer_be_randomised() {
        let s = crate::scenario::json_schema();
        assert!(s["$defs"]["RandomisedNumber"]["oneOf"].is_array());
        let w = &s["properties"]["timeout_ms"]["anyOf"];
        assert_eq!(w[0]["type"], "integer", "{w}");
        assert_eq!(w[1]["$ref"], "#/$defs/RandomisedNumber");
    }

    #[test]
    fn splicing_keeps_offsets_and_lines() {
        let mut s = "a = { between = [0,\n 300] }, b = 1".to_string();
        let span = table_span(&s, 4).unwrap();
        assert_eq!(&s[span.0..span.1], "{ between = [0,\n 300] }");
        let len = s.len();
        assert!(splice(&mut s, span, 137));
        assert_eq!(s.len(), len);
        assert!(s.starts_with("a = 137"));
        assert_eq!(s.matches('\n').count(), 1);
        assert!(s.ends_with("}, b = 1") || s.ends_with(", b = 1"));
        assert_eq!(table_span("x", 0), None);
    }
}
