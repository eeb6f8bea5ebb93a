//! Policy files through the real binary: `policy default|validate|resolve`,
//! layering, rule files, and bad input of every kind.

use std::path::Path;

use medguard::policy::{BUILTIN_POLICY_TOML, MAX_POLICY_BYTES, RegexLimits, compile_regex, compile_regex_set};
use serde_json::Value;

use crate::support::{assert_code, bin, run_with_stdin, site_policy, stderr, stdout, tempdir, write};

fn validate(path: &Path) -> std::process::Output {
    bin().args(["policy", "validate"]).arg(path).output().unwrap()
}

fn resolve_json(path: &Path) -> Value {
    let out = bin().args(["policy", "resolve", "--json"]).arg(path).output().unwrap();
    assert_code(&out, 0);
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn default_prints_the_builtin_policy_as_toml_and_json() {
    let out = bin().args(["policy", "default"]).output().unwrap();
    assert_code(&out, 0);
    assert_eq!(stdout(&out), BUILTIN_POLICY_TOML);
    let out = bin().args(["policy", "default", "--json"]).output().unwrap();
    assert_code(&out, 0);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["name"], "healthcare");
    assert_eq!(v["audit"]["keep_text"], "none");
}

#[test]
fn a_site_policy_extending_builtin_validates_and_names_its_id() {
    let dir = tempdir("pol-ok");
    let p = site_policy(&dir, "name = \"site\"\n");
    let out = validate(&p);
    assert_code(&out, 0);
    let text = stdout(&out);
    assert!(text.contains(": ok: site@0.1.0+sha256:"), "{text}");
    // The verdicts of that policy carry the same id.
    let id = text.split(": ok: ").nth(1).unwrap().split(' ').next().unwrap().to_string();
    let mut cmd = bin();
    cmd.arg("check").arg("--policy").arg(&p);
    let out = run_with_stdin(cmd, "hello");
    assert_code(&out, 0);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["policy"], id.as_str());
}

#[test]
fn every_problem_is_printed_with_file_line_and_column() {
    let dir = tempdir("pol-problems");
    let p = write(
        &dir.join("site.toml"),
        "extends = \"builtin\"\nbogus = 1\n\n[limits]\nmax_input_byte = 3\nmax_findings = \"many\"\n\n[audit]\nkeep_text = \"everything\"\n",
    );
    let out = validate(&p);
    assert_code(&out, 1);
    let text = stdout(&out);
    let name = p.display().to_string();
    for expected in [
        format!("{name}:2:1: `bogus`: unknown field `bogus`"),
        format!("{name}:5:1: `limits.max_input_byte`: unknown field `max_input_byte`"),
        format!("{name}:6:16: `limits.max_findings`: invalid type: string \"many\", expected usize"),
        format!("{name}:9:13: `audit.keep_text`: unknown variant `everything`"),
    ] {
        assert!(text.contains(&expected), "missing {expected:?} in:\n{text}");
    }
    assert!(text.contains("4 problems"), "{text}");

    let out = bin().args(["policy", "validate", "--json"]).arg(&p).output().unwrap();
    assert_code(&out, 1);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["ok"], false);
    assert_eq!(v["problems"][0]["line"], 2);
    assert_eq!(v["problems"][0]["field"], "bogus");

    // `check` refuses the policy (exit 2) and prints the same problems.
    let mut cmd = bin();
    cmd.arg("check").arg("--policy").arg(&p);
    let out = run_with_stdin(cmd, "hi");
    assert_code(&out, 2);
    assert!(stderr(&out).contains(&format!("{name}:6:16")), "{}", stderr(&out));
}

#[test]
fn semantic_and_build_problems_point_at_their_lines() {
    let dir = tempdir("pol-semantic");
    let p = write(
        &dir.join("site.json"),
        r#"{
  "extends": "builtin",
  "locale": "fr-FR",
  "limits": {"max_input_bytes": 0},
  "pipeline": {"checks": ["no_such_check"], "dangerous_allow_missing_safety_checks": true}
}"#,
    );
    let out = validate(&p);
    assert_code(&out, 1);
    let text = stdout(&out);
    assert!(text.contains(":3:13: `locale`: `fr-FR` is not defined"), "{text}");
    assert!(text.contains(":4:33: `limits.max_input_bytes`: must be between"), "{text}");
    // Checks are built only when nothing else is wrong.
    let p = write(
        &dir.join("build.toml"),
        "extends = \"builtin\"\n[pipeline]\ndangerous_allow_missing_safety_checks = true\nchecks = [\"no_such_check\"]\n",
    );
    let out = validate(&p);
    assert_code(&out, 1);
    assert!(stdout(&out).contains(":4:11: `pipeline.checks[0]`: unknown check `no_such_check`"), "{}", stdout(&out));
}

#[test]
fn empty_huge_binary_and_missing_files_are_clear_errors() {
    let dir = tempdir("pol-bad");
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("empty.toml", Vec::new(), "the document is empty"),
        ("blank.toml", b"  \n\t\n".to_vec(), "the document is empty"),
        ("comment.toml", b"# nothing\n".to_vec(), "the document is empty"),
        ("empty.json", b"{}".to_vec(), "the document is empty"),
        ("array.json", b"[1]".to_vec(), "must be a table"),
        ("huge.toml", format!("name = \"{}\"\n", "a".repeat(MAX_POLICY_BYTES)).into_bytes(), "larger than"),
        ("binary.toml", vec![0xff, 0xfe, 0x00, 0x41], "not valid UTF-8"),
        ("syntax.toml", b"name = \nversion = \"1\"\n[limits\n".to_vec(), ":1:"),
        ("syntax.json", b"{\"name\": \"x\",}".to_vec(), ":1:"),
    ];
    for (name, bytes, expected) in cases {
        let p = write(&dir.join(name), bytes);
        let out = validate(&p);
        assert_code(&out, 1);
        assert!(stdout(&out).contains(expected), "{name}: {}", stdout(&out));
    }
    let out = validate(&dir.join("missing.toml"));
    assert_code(&out, 1);
    assert!(stdout(&out).contains("cannot read"), "{}", stdout(&out));
    let out = validate(&dir);
    assert_code(&out, 1);
    assert!(stdout(&out).contains("not a regular file"), "{}", stdout(&out));
}

#[test]
fn deeply_nested_documents_do_not_overflow_the_stack() {
    let dir = tempdir("pol-deep");
    let n = 100_000;
    let cases = [
        ("arrays.toml", format!("a = {}", "[".repeat(n))),
        ("closed.toml", format!("a = {}1{}", "[".repeat(n), "]".repeat(n))),
        ("inline.toml", format!("a = {}", "{b = ".repeat(n))),
        ("header.toml", format!("[{}]\n", vec!["a"; n].join("."))),
        ("dotted.toml", format!("{} = 1\n", vec!["a"; n].join("."))),
        ("arrays.json", "[".repeat(n)),
        ("closed.json", format!("{}1{}", "[".repeat(n), "]".repeat(n))),
        ("objects.json", "{\"a\":".repeat(n)),
        // Within the parsers' limits but deeper than the policy's.
        ("moderate.json", format!("{{\"a\": {}1{}}}", "[".repeat(100), "]".repeat(100))),
        ("moderate.toml", format!("a = {}1{}", "[".repeat(60), "]".repeat(60))),
    ];
    for (name, text) in cases {
        let p = write(&dir.join(name), text);
        let out = validate(&p);
        assert_code(&out, 1);
        let msg = stdout(&out);
        assert!(msg.contains("recursion") || msg.contains("nested") || msg.contains("deep"), "{name}: {msg}");
    }
}

#[test]
fn extends_merges_tables_replaces_arrays_and_appends_with_the_suffix() {
    let dir = tempdir("pol-extends");
    write(
        &dir.join("base/base.toml"),
        "extends = \"builtin\"\nname = \"base\"\n[pipeline]\nchecks = [\"a\"]\n[limits]\nmax_findings = 10\n",
    );
    let p = write(
        &dir.join("site.toml"),
        "extends = \"base/base.toml\"\nname = \"site\"\n[pipeline]\nchecks_append = [\"b\"]\n[limits]\nmax_input_bytes = 100\n",
    );
    let v = resolve_json(&p);
    assert_eq!(v["name"], "site");
    assert_eq!(v["pipeline"]["checks"], serde_json::json!(["a", "b"]));
    assert_eq!(v["limits"], serde_json::json!({"max_findings": 10, "max_input_bytes": 100}));
    assert_eq!(v["locales"]["en-US"]["emergency_number"], "911", "inherited from the built-in policy");
    assert!(v.get("extends").is_none());
    // Arrays replace without the suffix.
    let p = write(&dir.join("replace.toml"), "extends = \"base/base.toml\"\n[pipeline]\nchecks = [\"c\"]\n");
    assert_eq!(resolve_json(&p)["pipeline"]["checks"], serde_json::json!(["c"]));
    // TOML output works too.
    let out = bin().args(["policy", "resolve"]).arg(&p).output().unwrap();
    assert_code(&out, 0);
    assert!(stdout(&out).contains("checks = [\"c\"]"), "{}", stdout(&out));
}

#[test]
fn extends_cycles_missing_bases_and_bad_values_are_errors() {
    let dir = tempdir("pol-cycle");
    write(&dir.join("a.toml"), "extends = \"b.toml\"\nname = \"a\"\n");
    write(&dir.join("b.toml"), "extends = \"a.toml\"\nname = \"b\"\n");
    let out = validate(&dir.join("a.toml"));
    assert_code(&out, 1);
    assert!(stdout(&out).contains("`extends`: `extends` forms a cycle"), "{}", stdout(&out));
    let p = write(&dir.join("missing.toml"), "name = \"x\"\nextends = \"nowhere.toml\"\n");
    let out = validate(&p);
    assert_code(&out, 1);
    assert!(stdout(&out).contains("missing.toml:2:11: `extends`: cannot read"), "{}", stdout(&out));
    let p = write(&dir.join("number.toml"), "extends = 3\n");
    let out = validate(&p);
    assert_code(&out, 1);
    assert!(stdout(&out).contains("must be \"builtin\" or the path"), "{}", stdout(&out));
}

#[test]
fn rules_files_are_spliced_relative_to_the_file_that_names_them() {
    let dir = tempdir("pol-rules");
    write(&dir.join("base/lexicon/extra.toml"), "[[rules]]\nid = \"base.one\"\n\n[[rules]]\nid = \"base.two\"\n");
    write(
        &dir.join("base/base.toml"),
        "extends = \"builtin\"\n[lexicon_check]\nrules_files = [\"lexicon/extra.toml\"]\n",
    );
    write(&dir.join("site-rules.json"), r#"{"rules": [{"id": "site.one"}]}"#);
    let p = write(
        &dir.join("site.toml"),
        "extends = \"base/base.toml\"\n[lexicon_check]\nrules = [{id = \"inline\"}]\nrules_files_append = [\"site-rules.json\"]\n",
    );
    let v = resolve_json(&p);
    let ids: Vec<&str> =
        v["lexicon_check"]["rules"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["inline", "base.one", "base.two", "site.one"]);
    assert!(v["lexicon_check"].get("rules_files").is_none(), "checks never see file paths");

    // Editing a rule file changes the resolved document (which the policy
    // id hashes once a check owns the section).
    write(&dir.join("site-rules.json"), r#"{"rules": [{"id": "site.changed"}]}"#);
    assert_eq!(resolve_json(&p)["lexicon_check"]["rules"][3]["id"], "site.changed");
}

#[test]
fn bad_rule_files_name_the_field_the_file_and_the_line() {
    let dir = tempdir("pol-rules-bad");
    write(&dir.join("extra-key.toml"), "version = 1\n[[rules]]\nid = \"x\"\n");
    write(&dir.join("huge.toml"), format!("# {}\n", "x".repeat(MAX_POLICY_BYTES)));
    write(&dir.join("deep.toml"), format!("[[rules]]\nid = {}1{}\n", "[".repeat(60), "]".repeat(60)));
    let p = write(
        &dir.join("site.toml"),
        "extends = \"builtin\"\n[lexicon_check]\nrules_files = [\n  \"missing.toml\",\n  \"extra-key.toml\",\n  \"huge.toml\",\n  \"deep.toml\",\n]\n",
    );
    let out = validate(&p);
    assert_code(&out, 1);
    let text = stdout(&out);
    let name = p.display().to_string();
    assert!(
        text.contains(&format!("{name}:4:3: `lexicon_check.rules_files[0]`: cannot read `"))
            && text.contains("missing.toml"),
        "{text}"
    );
    assert!(
        text.contains("extra-key.toml:1:1: `lexicon_check.rules_files[1]: version`: unknown key `version`"),
        "{text}"
    );
    assert!(text.contains("`lexicon_check.rules_files[2]`:") && text.contains("larger than"), "{text}");
    assert!(text.contains("deep.toml") && text.contains("nested"), "{text}");
}

#[test]
fn regex_helpers_bound_gigantic_and_catastrophic_patterns_without_panicking() {
    let limits = RegexLimits::DEFAULT;
    let field = "injection.rules[4].pattern";
    let cases = [
        r"\w{1000}{1000}".to_string(),
        r"(a|b|c|d|e|f|g|h)*{500}".to_string(),
        format!("{}a{}", "(".repeat(100_000), ")".repeat(100_000)),
        "a".repeat(1 << 20),
        "(".repeat(10),
        "x*".to_string(),
        String::new(),
    ];
    for p in &cases {
        let e = compile_regex(field, p, &limits).unwrap_err();
        assert_eq!(e.field(), field);
        assert!(!e.message().contains('\n'), "{e}");
    }
    // The classic backtracking bomb is fine: the regex crate is linear.
    let re = compile_regex(field, r"(a+)+$", &limits).unwrap();
    assert!(!re.is_match(&format!("{}!", "a".repeat(64 * 1024))));
    let many: Vec<String> = (0..limits.max_patterns + 1).map(|i| format!("w{i}")).collect();
    let e = compile_regex_set("x.rules", |i| format!("x.rules[{i}].pattern"), &many, &limits).unwrap_err();
    assert_eq!(e.field(), "x.rules");
}
