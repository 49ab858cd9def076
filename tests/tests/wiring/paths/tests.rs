//! The check fails when a quoted path is renamed (on either side: in the text, or in the tree),
//! and reads exactly what the module says counts as a quoted path.

use super::{Tree, missing_paths, quoted};
use crate::{each_case, repo};

/// A renamed copy of `path`: `-renamed` after its stem (`emulator.py`, `emulator-renamed.py`).
fn renamed(path: &str) -> String {
    let trimmed = path.trim_end_matches('/');
    let (stem, extension) = match trimmed.rsplit_once('.') {
        Some((stem, extension)) if !stem.ends_with('/') && !extension.contains('/') => {
            (stem, format!(".{extension}"))
        }
        _ => (trimmed, String::new()),
    };
    let slash = if path.ends_with('/') { "/" } else { "" };
    format!("{stem}-renamed{extension}{slash}")
}

#[test]
fn a_renamed_readme_path_is_reported() {
    let tree = Tree::read();
    let readme = repo::read("README.md");
    assert_eq!(
        missing_paths("README.md", &readme, &tree),
        Vec::<String>::new()
    );
    // The first plain path the README quotes, renamed in the README's text.
    let (line, path) = (readme.lines().enumerate())
        .flat_map(|(i, line)| quoted(line).into_iter().map(move |p| (i + 1, p)))
        .find(|(_, p)| {
            let plain = !p.contains(['*', '<', '{']) && !p.ends_with("...");
            // Below a top-level directory, so that the renamed path still starts with it.
            plain && p.trim_end_matches('/').contains('/')
        })
        .expect("the README quotes a path");
    let changed = readme.replace(&path, &renamed(&path));
    let missing = missing_paths("README.md", &changed, &tree);
    let expected = format!("README.md:{line} → {}", renamed(&path));
    assert!(
        missing.contains(&expected),
        "{expected} not in {missing:#?}"
    );

    // The same path renamed in the tree instead: the README's text is now stale.
    let mut moved = tree;
    moved.paths.retain(|p| !p.starts_with(path.as_str()));
    let missing = missing_paths("README.md", &readme, &moved);
    let expected = format!("README.md:{line} → {path}");
    assert!(
        missing.contains(&expected),
        "{expected} not in {missing:#?}"
    );
}

#[test]
fn a_readme_naming_a_renamed_emulator_script_is_reported() {
    let tree = Tree::read();
    let readme = "The emulator is `infra/local/emulator.py`.\n";
    assert_eq!(
        missing_paths("README.md", readme, &tree),
        Vec::<String>::new()
    );
    let stale = readme.replace("infra/local/emulator.py", "infra/local/emulater.py");
    assert_eq!(
        missing_paths("README.md", &stale, &tree),
        ["README.md:1 → infra/local/emulater.py"]
    );
}

/// A small tree for the cases.
fn tree() -> Tree {
    let paths = [
        "README.md",
        "Makefile",
        "template.yaml",
        "infra/",
        "infra/local/",
        "infra/local/emulator.py",
        "functions/",
        "functions/auth/",
        "functions/auth/iam.toml",
        "functions/docs/",
        "functions/docs/guide/",
        "functions/docs/guide/api.md",
        "events/",
        "events/users/",
        "events/users/me.json",
    ];
    Tree {
        paths: paths.into_iter().map(str::to_owned).collect(),
    }
}

struct Case {
    case: &'static str,
    file: &'static str,
    text: &'static str,
    missing: &'static [&'static str],
}

const CASES: &[Case] = &[
    Case {
        case: "a path in markdown prose or code is read",
        file: "README.md",
        text: "Run `infra/local/emulator.py`, then\n`infra/local/emulater.py`.\n",
        missing: &["README.md:2 → infra/local/emulater.py"],
    },
    Case {
        case: "a line number, an anchor, a ./ and a full stop are not part of the path",
        file: "README.md",
        text: "infra/local/emulator.py:12, infra/local/emulator.py#L3, ./infra/local/emulator.py, \
               `Makefile`'s, in Makefile.",
        missing: &[],
    },
    Case {
        case: "a top-level file is a path too, and only as a whole word",
        file: "README.md",
        text: "`Cargo.toml`'s members, in Cargo.toml.\nMakefile.d, Makefiles\n",
        missing: &["README.md:1 → Cargo.toml"],
    },
    Case {
        case: "a markdown link is relative to its file, without its anchor",
        file: "functions/docs/guide/api.md",
        text: "[self](api.md#errors) [readme](../../../README.md) [up](../README.md) \
               [web](https://example.com/functions/x) [here](#top)",
        missing: &["functions/docs/guide/api.md:1 → ../README.md"],
    },
    Case {
        case: "a URL, a variable's path and a plain word are not paths",
        file: "README.md",
        text: "https://github.com/o/r/tree/main/tests/x, $ROOT/infra/x, ~/infra/x, the tests",
        missing: &[],
    },
    Case {
        case: "a pattern holds while something matches it",
        file: "README.md",
        text: "`functions/*/iam.toml`, `functions/<group>/iam.toml`, `events/<group>/`, \
               `events/{dir}/{file}`, `events/...`, `events/**/*.json`, \
               `functions/<group>/Cargo.toml`",
        missing: &["README.md:1 → functions/<group>/Cargo.toml"],
    },
    Case {
        case: "only the comments of rust code are read",
        file: "shared/x.rs",
        text: "// see infra/local/gone.py\n\
               let s = \"infra/local/string.py\"; // and infra/local/emulator.py\n\
               /* a block\n   infra/local/block.py */\n\
               let c = '\"'; // infra/local/after-char.py\n\
               let r = r#\"// infra/local/raw.py\"#; let l: &'static str = \"\";\n\
               let e = '\\''; /// infra/local/after-escape.py\n",
        missing: &[
            "shared/x.rs:1 → infra/local/gone.py",
            "shared/x.rs:4 → infra/local/block.py",
            "shared/x.rs:5 → infra/local/after-char.py",
            "shared/x.rs:7 → infra/local/after-escape.py",
        ],
    },
    Case {
        case: "the comments and docstrings of python code are read",
        file: "infra/x.py",
        text: "\"\"\"Docstring: infra/local/doc.py\n\nMore: infra/local/doc2.py.\"\"\"\n\
               PATH = \"infra/local/code.py\"  # infra/local/comment.py\n\
               HASH = '#'  # infra/local/emulator.py\n",
        missing: &[
            "infra/x.py:1 → infra/local/doc.py",
            "infra/x.py:3 → infra/local/doc2.py",
            "infra/x.py:4 → infra/local/comment.py",
        ],
    },
    Case {
        case: "the comments of a shell script are read, not its strings",
        file: "infra/x.sh",
        text: "#!/bin/sh\n# infra/local/comment.sh\n\
               echo \"# infra/local/quoted.sh\" # infra/local/trailing.sh\n\
               n=$# # it's infra/local/emulator.py\n",
        missing: &[
            "infra/x.sh:2 → infra/local/comment.sh",
            "infra/x.sh:3 → infra/local/trailing.sh",
        ],
    },
    Case {
        case: "the comments of yaml and a makefile are read",
        file: "Makefile",
        text: "test: ## infra/scripts/gone.sh\n\techo '#' # the function's infra/local/emulator.py\n",
        missing: &["Makefile:1 → infra/scripts/gone.sh"],
    },
    Case {
        case: "an apostrophe in yaml does not hide a comment",
        file: "template.yaml",
        text: "Description: the function's role # infra/local/gone.yaml\n",
        missing: &["template.yaml:1 → infra/local/gone.yaml"],
    },
    Case {
        case: "a file of another kind is not read",
        file: "functions/docs/assets/x.js",
        text: "// infra/nope",
        missing: &[],
    },
];

#[test]
fn what_counts_as_a_quoted_path() {
    let tree = tree();
    each_case(
        CASES,
        |c| c.case,
        |c| {
            assert_eq!(
                missing_paths(c.file, c.text, &tree),
                c.missing,
                "{}",
                c.text
            );
        },
    );
}
