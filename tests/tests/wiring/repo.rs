//! The repository as the wiring checks read it: the root, its files and directories, the
//! workspace `Cargo.toml` (and every member's), and `template.yaml`, parsed here and nowhere else.
//!
//! The template is parsed with `yaml_serde`, the YAML organization's maintained continuation of
//! the deprecated `serde_yaml`: same API, and it keeps CloudFormation's short-form tags (`!Ref`,
//! `!Sub`, `!GetAtt`, `!If`, ...) as [`Yaml::Tagged`] values, which the IAM check resolves.
//! Everything here panics on an unreadable checkout: a test that cannot read the repository
//! must stop loudly, naming the file.

use std::path::{Path, PathBuf};

/// A parsed YAML document (the template, or a snippet in a test).
pub type Yaml = yaml_serde::Value;

/// The repository root (the parent of the `e2e` package in `tests/`).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The text of a file, by its path relative to the root.
pub fn read(relative: &str) -> String {
    let path = root().join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {relative}: {e}"))
}

/// The names of the entries of a directory (relative to the root) that `keep` accepts, sorted.
pub fn entries(relative: &str, keep: impl Fn(&Path) -> bool) -> Vec<String> {
    let dir = root().join(relative);
    let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("listing {relative}: {e}"));
    let mut names: Vec<String> = entries
        .flatten()
        .filter(|entry| keep(&entry.path()))
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// The directories under `relative`, sorted: `dirs("functions")` is every route group.
pub fn dirs(relative: &str) -> Vec<String> {
    entries(relative, Path::is_dir)
}

/// A TOML file, by its path relative to the root.
pub fn toml(relative: &str) -> toml::Table {
    toml::from_str(&read(relative)).unwrap_or_else(|e| panic!("{relative}: {e}"))
}

/// `[workspace] members` of a workspace manifest, each `dir/*` expanded to every directory
/// under `dir`, the way cargo expands it: `functions/health`, ..., `infra/tools`, `tests`.
pub fn members(cargo: &toml::Table) -> Vec<String> {
    let members = cargo
        .get("workspace")
        .and_then(|w| w.get("members"))
        .and_then(toml::Value::as_array);
    let members = members
        .into_iter()
        .flatten()
        .filter_map(toml::Value::as_str);
    members
        .flat_map(|member| match member.strip_suffix("/*") {
            Some(dir) => dirs(dir)
                .into_iter()
                .map(|name| format!("{dir}/{name}"))
                .collect(),
            None => vec![member.to_owned()],
        })
        .collect()
}

/// YAML text, parsed; `what` names it in the panic.
pub fn yaml(what: &str, text: &str) -> Yaml {
    yaml_serde::from_str(text).unwrap_or_else(|e| panic!("{what}: {e}"))
}

/// `template.yaml`, parsed.
pub fn template() -> Yaml {
    yaml("template.yaml", &read("template.yaml"))
}

/// YAML as written, on one line, to show a value in a message.
pub fn shown(value: &Yaml) -> String {
    let text = yaml_serde::to_string(value).unwrap_or_default();
    text.trim().replace('\n', " ")
}

/// The text of a scalar or of a tagged scalar (`!Sub "..."`); empty for anything else.
pub fn text(value: &Yaml) -> String {
    match value {
        Yaml::String(s) => s.clone(),
        Yaml::Tagged(tagged) => text(&tagged.value),
        _ => String::new(),
    }
}

/// One `AWS::Serverless::Function` of the template that names its binary.
pub struct Function<'a> {
    /// The logical id: `AuthFunction`.
    pub id: &'a str,
    /// `Metadata.BuildProperties.Binary`: the route group, `auth`.
    pub binary: &'a str,
    /// The resource itself.
    pub resource: &'a Yaml,
}

/// Every `AWS::Serverless::Function` of the template with a `BuildProperties.Binary`, in the
/// template's order.
pub fn functions(template: &Yaml) -> Vec<Function<'_>> {
    let resources = template.get("Resources").and_then(Yaml::as_mapping);
    let resources = resources.into_iter().flatten();
    let functions = resources.filter_map(|(id, resource)| {
        let kind = resource.get("Type").and_then(Yaml::as_str);
        if kind != Some("AWS::Serverless::Function") {
            return None;
        }
        let binary = ["Metadata", "BuildProperties", "Binary"]
            .iter()
            .try_fold(resource, |value, key| value.get(key))?;
        Some(Function {
            id: id.as_str()?,
            binary: binary.as_str()?,
            resource,
        })
    });
    functions.collect()
}

/// The logical id a `!Ref <Id>` or `!GetAtt <Id>.<Attribute>` names (either written as a short
/// tag or as `{"Ref": ...}` / `{"Fn::GetAtt": ...}`), with the attribute (`None` for a `Ref`).
pub fn reference(value: &Yaml) -> Option<(String, Option<String>)> {
    let (function, argument) = match value {
        Yaml::Tagged(tagged) => (
            tagged.tag.to_string().trim_start_matches('!').to_owned(),
            &tagged.value,
        ),
        Yaml::Mapping(map) if map.len() == 1 => {
            let (key, argument) = map.iter().next()?;
            let key = key.as_str()?;
            (key.strip_prefix("Fn::").unwrap_or(key).to_owned(), argument)
        }
        _ => return None,
    };
    match (function.as_str(), argument) {
        ("Ref", Yaml::String(id)) => Some((id.clone(), None)),
        ("GetAtt", Yaml::String(dotted)) => {
            let (id, attribute) = dotted.split_once('.')?;
            Some((id.to_owned(), Some(attribute.to_owned())))
        }
        ("GetAtt", Yaml::Sequence(parts)) => match parts.as_slice() {
            [Yaml::String(id), Yaml::String(attribute)] => {
                Some((id.clone(), Some(attribute.clone())))
            }
            _ => None,
        },
        _ => None,
    }
}

/// The `Type` of the resource `id`, if the template has it.
pub fn resource_type<'a>(template: &'a Yaml, id: &str) -> Option<&'a str> {
    template.get("Resources")?.get(id)?.get("Type")?.as_str()
}

/// One `AWS::Lambda::EventSourceMapping` of the template.
pub struct Mapping<'a> {
    /// Its logical id: `JobsQueueMapping`.
    pub id: &'a str,
    /// The logical id of the function it invokes (`FunctionName: !Ref <Id>`, or `!GetAtt
    /// <Id>.Arn`), when it names one of the template's functions.
    pub function: Option<String>,
    /// The resource itself.
    pub resource: &'a Yaml,
}

/// Every `AWS::Lambda::EventSourceMapping` of the template, in the template's order.
pub fn event_source_mappings(template: &Yaml) -> Vec<Mapping<'_>> {
    let resources = template.get("Resources").and_then(Yaml::as_mapping);
    let resources = resources.into_iter().flatten();
    let mappings = resources.filter_map(|(id, resource)| {
        let kind = resource.get("Type").and_then(Yaml::as_str);
        if kind != Some("AWS::Lambda::EventSourceMapping") {
            return None;
        }
        let named = resource
            .get("Properties")
            .and_then(|p| p.get("FunctionName"));
        let function = named.and_then(reference).and_then(|(id, attribute)| {
            let is_function = matches!(
                resource_type(template, &id),
                Some("AWS::Serverless::Function" | "AWS::Lambda::Function")
            );
            let whole = matches!(attribute.as_deref(), None | Some("Arn"));
            (is_function && whole).then_some(id)
        });
        Some(Mapping {
            id: id.as_str()?,
            function,
            resource,
        })
    });
    mappings.collect()
}
