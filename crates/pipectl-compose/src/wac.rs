//! The WAC source equivalent to a composition, so users can audit what was
//! wired (and reproduce it with `wac compose`, given the dependencies listed
//! in its header).

use std::fmt::Write as _;

/// A WAC expression giving an instance: `var["export name"]`.
#[derive(Debug, Clone)]
pub struct Expr(String);

impl Expr {
    /// `var["name"]`: an export of an instance.
    pub fn export(var: &str, name: &str) -> Self {
        Expr(format!("{}[\"{name}\"]", ident(var)))
    }
}

/// WAC identifiers are kebab-case words; keywords take a `%` prefix.
fn ident(name: &str) -> String {
    const KEYWORDS: [&str; 32] = [
        "import",
        "with",
        "type",
        "tuple",
        "list",
        "option",
        "result",
        "borrow",
        "resource",
        "variant",
        "record",
        "flags",
        "enum",
        "func",
        "static",
        "constructor",
        "u8",
        "s8",
        "u16",
        "s16",
        "u32",
        "s32",
        "u64",
        "s64",
        "f32",
        "f64",
        "char",
        "bool",
        "string",
        "interface",
        "world",
        "export",
    ];
    const MORE: [&str; 6] = ["new", "let", "use", "include", "targets", "package"];
    if KEYWORDS.contains(&name) || MORE.contains(&name) {
        format!("%{name}")
    } else {
        name.to_string()
    }
}

/// Accumulates WAC statements in the order the graph is built.
pub struct WacWriter {
    header: String,
    deps: Vec<(String, String)>,
    body: String,
}

impl WacWriter {
    /// A document for pipeline `name` at `version`.
    pub fn new(name: &str, version: &semver::Version) -> Self {
        Self {
            header: format!("package pipectl:{name}@{version};\n"),
            deps: Vec::new(),
            body: String::new(),
        }
    }

    /// Records that package `name` is the component from `origin`.
    pub fn dependency(&mut self, name: &str, origin: &str) {
        self.deps.push((name.to_string(), origin.to_string()));
    }

    /// `let var = new package { arg: expr, ... };`; `rest` adds `...` so any
    /// argument not given becomes an import of the composition.
    pub fn instantiate(&mut self, var: &str, package: &str, args: &[(String, Expr)], rest: bool) {
        let _ = write!(self.body, "\nlet {} = new {package} {{", ident(var));
        let mut items: Vec<String> = args
            .iter()
            .map(|(name, expr)| {
                let key = if name.contains([':', '/', '@']) {
                    format!("\"{name}\"")
                } else {
                    ident(name)
                };
                format!("{key}: {}", expr.0)
            })
            .collect();
        if rest {
            items.push("...".to_string());
        }
        if items.is_empty() {
            self.body.push_str("};\n");
        } else {
            self.body.push('\n');
            for item in items {
                let _ = writeln!(self.body, "    {item},");
            }
            self.body.push_str("};\n");
        }
    }

    /// `export expr as "name";`
    pub fn export(&mut self, expr: &Expr, name: &str) {
        let _ = write!(self.body, "\nexport {} as \"{name}\";\n", expr.0);
    }

    /// The finished WAC document: a header listing its packages, then the body.
    pub fn finish(self) -> String {
        let mut out = String::from(
            "// The composition pipectl built, as WAC (https://github.com/bytecodealliance/wac).\n\
             // Its packages:\n",
        );
        for (name, origin) in &self.deps {
            let _ = writeln!(out, "//   {name} = {origin}");
        }
        out.push_str(&self.header);
        out.push_str(&self.body);
        out
    }
}
