//! Case ids (`1.1.1`, `9.7.6`) that sort as number tuples, and Autobahn's selection
//! patterns (`cases`, `exclude-cases`, `exclude-agent-cases`).

use std::fmt;

/// An Autobahn case id: dot-separated numbers, ordered as a tuple (2.1 < 10.1.1).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CaseId(pub Vec<u16>);

impl CaseId {
    /// Parses `1.2.3`.
    pub fn parse(s: &str) -> Option<CaseId> {
        let parts: Option<Vec<u16>> = s.split('.').map(|p| p.parse().ok()).collect();
        parts.filter(|p| !p.is_empty()).map(CaseId)
    }

    /// The category (first number).
    pub fn category(&self) -> u16 {
        self.0[0]
    }

    /// The id with `_` for `.` (file names, HTML anchors).
    pub fn underscored(&self) -> String {
        self.to_string().replace('.', "_")
    }
}

impl fmt::Display for CaseId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s: Vec<String> = self.0.iter().map(|n| n.to_string()).collect();
        f.write_str(&s.join("."))
    }
}

/// An Autobahn case pattern: `*` matches any run of characters, everything else
/// (including `.`) matches itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern(String);

impl Pattern {
    /// A pattern as written in a spec file or on the command line.
    pub fn new(s: &str) -> Pattern {
        Pattern(s.to_string())
    }

    /// Whether it has a wildcard.
    pub fn is_wild(&self) -> bool {
        self.0.contains('*')
    }

    /// Matches at the start of `text`, not necessarily to its end (Python's
    /// `re.match`): `1.*` matches `1.1.1` but not `10.1.1`, `1` matches `10.1.1`.
    pub fn matches_prefix(&self, text: &str) -> bool {
        glob(self.0.as_bytes(), text.as_bytes(), false)
    }

    /// Matches the whole of `text` (the anchored patterns of `exclude-agent-cases`).
    pub fn matches_all(&self, text: &str) -> bool {
        glob(self.0.as_bytes(), text.as_bytes(), true)
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Glob with `*` only; `whole` requires the text to end where the pattern does.
/// Linear in the text for each `*` retried (no recursion), so a peer's long text cannot
/// make it explode.
fn glob(p: &[u8], t: &[u8], whole: bool) -> bool {
    let (mut pi, mut ti) = (0, 0);
    // The last `*` seen and where in the text its match currently ends.
    let mut star: Option<(usize, usize)> = None;
    loop {
        if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, ti));
            pi += 1;
            continue;
        }
        if pi == p.len() && (!whole || ti == t.len()) {
            return true;
        }
        if pi < p.len() && ti < t.len() && p[pi] == t[ti] {
            pi += 1;
            ti += 1;
            continue;
        }
        match star {
            Some((sp, st)) if st < t.len() => {
                star = Some((sp, st + 1));
                pi = sp + 1;
                ti = st + 1;
            }
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_sort_as_number_tuples() {
        let mut ids: Vec<CaseId> = ["12.1.10", "2.1", "10.1.1", "1.1.1", "12.1.2", "1.2.8"]
            .iter()
            .map(|s| CaseId::parse(s).unwrap())
            .collect();
        ids.sort();
        let s: Vec<String> = ids.iter().map(|i| i.to_string()).collect();
        assert_eq!(s, ["1.1.1", "1.2.8", "2.1", "10.1.1", "12.1.2", "12.1.10"]);
        assert_eq!(CaseId::parse("1.x"), None);
        assert_eq!(CaseId::parse("7.13.2").unwrap().underscored(), "7_13_2");
    }

    #[test]
    fn patterns_match_at_the_start_like_re_match() {
        assert!(Pattern::new("1.*").matches_prefix("1.1.1"));
        assert!(!Pattern::new("1.*").matches_prefix("10.1.1"));
        assert!(Pattern::new("*").matches_prefix("12.5.18"));
        assert!(Pattern::new("9.").matches_prefix("9.1.1"), "not anchored at the end");
        assert!(Pattern::new("6.*.1").matches_prefix("6.12.1"));
        assert!(!Pattern::new("6.*.1").matches_all("6.12.10"));
        assert!(Pattern::new("6.*.1").matches_all("6.12.1"));
        assert!(Pattern::new("*a*b").matches_all("xaxxab"));
        assert!(!Pattern::new("*a*b").matches_all("xaxxabc"));
        assert!(Pattern::new("*a*b").matches_prefix("xaxxabc"));
        assert!(Pattern::new("a*b*c").matches_all("abbbcbc"));
        assert!(!Pattern::new("a*b*c").matches_all("acb"));
        assert!(Pattern::new("**").matches_all(""));
    }

    #[test]
    fn many_stars_against_a_long_agent_name_do_not_backtrack_exponentially() {
        let long = "-".repeat(16_000);
        assert!(!Pattern::new("*-*-*-*-*x").matches_all(&long));
        assert!(Pattern::new("*-*-*-*-*-").matches_all(&long));
    }
}
