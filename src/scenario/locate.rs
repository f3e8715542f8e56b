//! Where things are in a scenario file: line and column of a byte offset (in
//! logarithmic time, so locating every step of a large file stays linear), and the
//! offset of a key path (`steps[3].server.main.send`) in TOML or JSON.

/// A segment of a key path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seg {
    /// A table key.
    Key(String),
    /// An array index.
    Index(usize),
}

/// A key path into the document, e.g. `steps[3].server.main`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KeyPath(pub Vec<Seg>);

impl KeyPath {
    /// The path with a key appended.
    pub fn key(&self, k: &str) -> KeyPath {
        let mut p = self.0.clone();
        p.push(Seg::Key(k.to_string()));
        KeyPath(p)
    }

    /// The path with an index appended.
    pub fn index(&self, i: usize) -> KeyPath {
        let mut p = self.0.clone();
        p.push(Seg::Index(i));
        KeyPath(p)
    }
}

impl std::fmt::Display for KeyPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, s) in self.0.iter().enumerate() {
            match s {
                Seg::Key(k) if i == 0 => write!(f, "{k}")?,
                Seg::Key(k) => write!(f, ".{k}")?,
                Seg::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

/// The start of every line, for offset → line and column.
pub struct LineIndex<'a> {
    src: &'a str,
    starts: Vec<usize>,
}

impl<'a> LineIndex<'a> {
    /// Indexes `src`.
    pub fn new(src: &'a str) -> Self {
        let mut starts = vec![0];
        starts.extend(src.bytes().enumerate().filter(|(_, b)| *b == b'\n').map(|(i, _)| i + 1));
        LineIndex { src, starts }
    }

    /// 1-based line and column (in characters) of `offset`.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let mut offset = offset.min(self.src.len());
        while !self.src.is_char_boundary(offset) {
            offset -= 1;
        }
        let line = self.starts.partition_point(|&s| s <= offset);
        let start = self.starts[line - 1];
        (line, self.src[start..offset].chars().count() + 1)
    }
}

enum Node<'a> {
    Item(&'a toml_edit::Item),
    Table(&'a toml_edit::Table),
}

impl<'a> Node<'a> {
    fn child(&self, seg: &Seg) -> Option<Node<'a>> {
        match (self, seg) {
            (Node::Item(toml_edit::Item::ArrayOfTables(a)), Seg::Index(i)) => {
                a.get(*i).map(Node::Table)
            }
            (Node::Item(it), Seg::Key(k)) => it.get(k.as_str()).map(Node::Item),
            (Node::Item(it), Seg::Index(i)) => it.get(*i).map(Node::Item),
            (Node::Table(t), Seg::Key(k)) => t.get(k).map(Node::Item),
            (Node::Table(_), Seg::Index(_)) => None,
        }
    }

    fn start(&self) -> Option<usize> {
        match self {
            Node::Item(it) => it.span().map(|s| s.start),
            Node::Table(t) => t.span().map(|s| s.start),
        }
    }
}

/// The offset of the deepest part of `path` found in a TOML document.
pub fn toml_offset(doc: &toml_edit::Document<&str>, path: &KeyPath) -> usize {
    let mut best = 0;
    let mut node = Node::Table(doc.as_table());
    for seg in &path.0 {
        let Some(next) = node.child(seg) else { break };
        if let Some(s) = next.start() {
            best = s;
        }
        node = next;
    }
    best
}

/// Offsets in a JSON document: a small scanner over text that already parsed.
struct Json<'a> {
    b: &'a [u8],
    i: usize,
}

impl Json<'_> {
    fn ws(&mut self) {
        while self.i < self.b.len() && self.b[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }

    fn string(&mut self) -> String {
        let start = self.i + 1;
        self.i += 1;
        while self.i < self.b.len() && self.b[self.i] != b'"' {
            if self.b[self.i] == b'\\' {
                self.i += 1;
            }
            self.i += 1;
        }
        let s = String::from_utf8_lossy(&self.b[start..self.i.min(self.b.len())]).into_owned();
        self.i += 1;
        s
    }

    fn skip_value(&mut self) {
        self.ws();
        match self.b.get(self.i) {
            Some(b'"') => {
                self.string();
            }
            Some(b'{') | Some(b'[') => {
                let mut depth = 0i64;
                while self.i < self.b.len() {
                    match self.b[self.i] {
                        b'"' => {
                            self.string();
                            continue;
                        }
                        b'{' | b'[' => depth += 1,
                        b'}' | b']' => {
                            depth -= 1;
                            if depth == 0 {
                                self.i += 1;
                                return;
                            }
                        }
                        _ => {}
                    }
                    self.i += 1;
                }
            }
            _ => {
                while self.i < self.b.len() && !matches!(self.b[self.i], b',' | b'}' | b']') {
                    self.i += 1;
                }
            }
        }
    }

    /// Positions the scanner at the value of `key` in the object at the cursor.
    fn member(&mut self, key: &str) -> bool {
        self.ws();
        if self.b.get(self.i) != Some(&b'{') {
            return false;
        }
        self.i += 1;
        loop {
            self.ws();
            match self.b.get(self.i) {
                Some(b'"') => {}
                _ => return false,
            }
            let k = self.string();
            self.ws();
            self.i += 1; // ':'
            self.ws();
            if k == key {
                return true;
            }
            self.skip_value();
            self.ws();
            if self.b.get(self.i) == Some(&b',') {
                self.i += 1;
            } else {
                return false;
            }
        }
    }

    /// Offsets of the elements of the array at the cursor.
    fn elements(&mut self) -> Vec<usize> {
        let mut out = Vec::new();
        self.ws();
        if self.b.get(self.i) != Some(&b'[') {
            return out;
        }
        self.i += 1;
        loop {
            self.ws();
            if matches!(self.b.get(self.i), None | Some(b']')) {
                return out;
            }
            out.push(self.i);
            self.skip_value();
            self.ws();
            if self.b.get(self.i) == Some(&b',') {
                self.i += 1;
            } else {
                return out;
            }
        }
    }
}

/// The offset of the deepest part of `path` found in a JSON document.
pub fn json_offset(src: &str, path: &KeyPath) -> usize {
    let mut j = Json { b: src.as_bytes(), i: 0 };
    let mut best = 0;
    for seg in &path.0 {
        let ok = match seg {
            Seg::Key(k) => j.member(k),
            Seg::Index(n) => {
                let els = j.elements();
                match els.get(*n) {
                    Some(&at) => {
                        j.i = at;
                        true
                    }
                    None => false,
                }
            }
        };
        if !ok {
            break;
        }
        j.ws();
        best = j.i;
    }
    best
}

/// Offsets of the elements of the top-level array `key` in a JSON document.
pub fn json_array_elements(src: &str, key: &str) -> Vec<usize> {
    let mut j = Json { b: src.as_bytes(), i: 0 };
    if j.member(key) { j.elements() } else { Vec::new() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_and_columns() {
        let ix = LineIndex::new("ab\ncdé\n\nx");
        assert_eq!(ix.line_col(0), (1, 1));
        assert_eq!(ix.line_col(3), (2, 1));
        assert_eq!(ix.line_col(6), (2, 3));
        assert_eq!(ix.line_col(8), (3, 1));
        assert_eq!(ix.line_col(9), (4, 1));
        assert_eq!(ix.line_col(99), (4, 2));
    }

    #[test]
    fn json_paths() {
        let src = "{\n \"a\": 1,\n \"steps\": [\n  {\"x\": {\"y\": [1, 2]}},\n  \"s\"\n ]\n}";
        let p = KeyPath::default().key("steps");
        assert_eq!(json_array_elements(src, "steps").len(), 2);
        let at = json_offset(src, &p.index(0).key("x").key("y").index(1));
        assert_eq!(&src[at..at + 1], "2");
        let at = json_offset(src, &p.index(1));
        assert_eq!(&src[at..at + 3], "\"s\"");
        let at = json_offset(src, &p.index(0).key("zz"));
        assert_eq!(&src[at..at + 1], "{");
    }

    #[test]
    fn toml_paths() {
        let src = "name = \"n\"\n[servers.main]\nkind = \"script\"\n[[steps]]\nclient.a = \"start\"\n[[steps]]\nserver.main.send = { text = \"x\", binary = \"y\" }\n";
        let doc = toml_edit::Document::parse(src).unwrap();
        let ix = LineIndex::new(src);
        let at = toml_offset(&doc, &KeyPath::default().key("servers").key("main").key("kind"));
        assert_eq!(ix.line_col(at).0, 3);
        let p = KeyPath::default().key("steps").index(1).key("server").key("main").key("send");
        assert_eq!(ix.line_col(toml_offset(&doc, &p.key("binary"))), (7, 43));
        assert_eq!(ix.line_col(toml_offset(&doc, &KeyPath::default().key("steps").index(0))).0, 4);
    }
}
