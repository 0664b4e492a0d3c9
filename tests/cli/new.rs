//! `oneoff new`: the stub it writes, where it writes it, and that a fresh
//! stub is pending but cannot run. `new` never touches the database, so these
//! run on SQLite only.

use std::path::{Path, PathBuf};

use crate::support::{Backend, Project};

fn project() -> Project {
    Project::new(Backend::Sqlite).expect("SQLite is always available")
}

/// The single line `new` printed, as a path relative to the project.
fn printed_path(p: &Project, args: &[&str]) -> PathBuf {
    let run = p.oneoff(args);
    run.code(0);
    let out = run.stdout();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 1, "one line, the path:\n{out}");
    PathBuf::from(lines[0])
}

/// The 14-digit id at the start of a stub's file name.
fn id_of(path: &Path) -> String {
    let name = path.file_name().unwrap().to_str().unwrap();
    let (id, _) = name.split_once('_').unwrap();
    assert!(
        id.len() == 14 && id.bytes().all(|b| b.is_ascii_digit()),
        "{name}"
    );
    id.to_string()
}

/// The files directly inside `dir`, sorted by name.
fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn new_prints_the_path_of_a_stub_named_after_the_utc_time_and_the_description() {
    let p = project();
    let before = chrono::Utc::now();
    // A time zone far from UTC: the id must still be UTC.
    let output = p
        .cmd()
        .env("TZ", "Pacific/Kiritimati")
        .args(["new", "Backfill user e-mails"])
        .output()
        .unwrap();
    let after = chrono::Utc::now();
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let stdout = String::from_utf8(output.stdout).unwrap();
    let path = PathBuf::from(stdout.trim_end());
    assert_eq!(path.parent(), Some(Path::new("one_off")), "{stdout}");
    let id = id_of(&path);
    assert_eq!(
        path.file_name().unwrap().to_str().unwrap(),
        format!("{id}_backfill_user_e_mails.sql")
    );
    let made = chrono::NaiveDateTime::parse_from_str(&id, "%Y%m%d%H%M%S")
        .unwrap()
        .and_utc();
    assert!(
        made.timestamp() >= before.timestamp() && made.timestamp() <= after.timestamp(),
        "id {id} is not the UTC time between {before} and {after}"
    );

    let text = std::fs::read_to_string(p.dir.path().join(&path)).expect("the stub exists");
    assert_eq!(text.lines().next(), Some("-- Backfill user e-mails"));
    for section in ["-- What and why:", "-- Checked:", "-- Undo:"] {
        assert!(
            text.lines().any(|l| l.starts_with(section)),
            "no {section}:\n{text}"
        );
    }
    assert!(
        text.contains("-- Example") && text.contains("\n-- UPDATE "),
        "a commented example statement:\n{text}"
    );
    assert!(
        text.lines()
            .all(|l| l.trim().is_empty() || l.starts_with("--")),
        "nothing but comments, so nothing runs by accident:\n{text}"
    );
}

#[test]
fn two_stubs_with_the_same_description_in_the_same_second_are_two_files() {
    let p = project();
    let first = printed_path(&p, &["new", "fix orders"]);
    let first_text = std::fs::read_to_string(p.dir.path().join(&first)).unwrap();
    let second = printed_path(&p, &["new", "fix orders"]);
    assert_ne!(first, second);
    assert!(id_of(&second) > id_of(&first), "{first:?} then {second:?}");
    assert_eq!(
        std::fs::read_to_string(p.dir.path().join(&first)).unwrap(),
        first_text,
        "the first stub is untouched"
    );
    assert_eq!(files_in(&p.scripts()).len(), 2);
}

#[test]
fn new_never_overwrites_a_file_that_holds_the_current_id() {
    let p = project();
    // Squat the current second and the next few, under the very same name.
    let now = chrono::Utc::now();
    let mut squatted = Vec::new();
    for s in 0..5 {
        let id = (now + chrono::Duration::seconds(s))
            .format("%Y%m%d%H%M%S")
            .to_string();
        squatted.push(p.script(&id, "keep", "-- keep me\nSELECT 1;\n"));
    }
    let path = printed_path(&p, &["new", "keep"]);
    assert!(!squatted.contains(&p.dir.path().join(&path)), "{path:?}");
    for file in &squatted {
        assert_eq!(
            std::fs::read_to_string(file).unwrap(),
            "-- keep me\nSELECT 1;\n"
        );
    }
    assert_eq!(files_in(&p.scripts()).len(), 6);
}

#[test]
fn a_blank_description_is_refused_with_exit_2_and_writes_nothing() {
    let p = project();
    p.oneoff(&["new", "   "])
        .code(2)
        .stderr_has("error: the description is blank")
        .stderr_has("oneoff new \"backfill user emails\"");
    assert!(files_in(&p.scripts()).is_empty());
}

#[test]
fn a_missing_description_is_a_usage_error() {
    let p = project();
    let run = p.oneoff(&["new"]);
    run.code(2)
        .stderr_has("required arguments were not provided")
        .stderr_has("<DESCRIPTION>")
        .stderr_has("Usage: oneoff new");
    assert!(run.stdout().is_empty());
    assert!(files_in(&p.scripts()).is_empty());
}

#[test]
fn a_description_without_ascii_letters_is_refused_with_exit_2() {
    let p = project();
    p.oneoff(&["new", "ééé"])
        .code(2)
        .stderr_has("has no ASCII letters or digits");
    assert!(files_in(&p.scripts()).is_empty());
}

#[test]
fn a_description_that_looks_like_a_path_writes_inside_the_script_dir_only() {
    let p = project();
    let path = printed_path(&p, &["new", "../../etc/passwd"]);
    let id = id_of(&path);
    assert_eq!(
        path,
        Path::new("one_off").join(format!("{id}_etc_passwd.sql"))
    );
    assert_eq!(files_in(&p.scripts()), [format!("{id}_etc_passwd.sql")]);
    assert_eq!(
        files_in(p.dir.path()),
        ["one_off"],
        "nothing outside the script dir"
    );
}

#[test]
fn dir_option_creates_the_directory_and_writes_the_stub_there() {
    let p = project();
    let path = printed_path(&p, &["new", "--dir", "other/dir", "seed data"]);
    let id = id_of(&path);
    assert_eq!(
        path,
        Path::new("other/dir").join(format!("{id}_seed_data.sql"))
    );
    assert!(p.dir.path().join(&path).is_file());
    assert!(files_in(&p.scripts()).is_empty(), "not in the default dir");
}

#[test]
fn oneoff_dir_environment_variable_chooses_the_directory() {
    let p = project();
    let output = p
        .cmd()
        .env("ONEOFF_DIR", "from_env")
        .args(["new", "seed data"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let path = PathBuf::from(String::from_utf8(output.stdout).unwrap().trim_end());
    assert_eq!(path.parent(), Some(Path::new("from_env")));
    assert!(p.dir.path().join(&path).is_file());
    assert!(files_in(&p.scripts()).is_empty(), "not in the default dir");
}

#[test]
fn dir_option_pointing_at_a_file_is_refused_with_exit_2() {
    let p = project();
    std::fs::write(p.dir.path().join("plain"), "x").unwrap();
    p.oneoff(&["new", "--dir", "plain", "seed data"])
        .code(2)
        .stderr_has("plain: is not a directory");
    assert_eq!(
        std::fs::read_to_string(p.dir.path().join("plain")).unwrap(),
        "x"
    );
}

#[test]
fn a_fresh_stub_is_pending_and_run_refuses_it_because_it_has_no_statement() {
    let p = project();
    let path = printed_path(&p, &["new", "Fix orders"]);
    let id = id_of(&path);
    let entry = p.entry(&id);
    assert_eq!(entry["status"], "pending");
    assert_eq!(entry["name"], "fix_orders");
    assert_eq!(entry["description"], "Fix orders");

    let run = p.oneoff(&["run"]);
    run.code(2)
        .stderr_has(&path.display().to_string())
        .stderr_has("has no SQL statement");
    assert!(!run.stdout().contains("Running"), "{}", run.stdout());
    if p.db.has_table("oneoff_ledger") {
        assert_eq!(p.db.count("SELECT COUNT(*) AS n FROM oneoff_ledger"), 0);
        assert_eq!(p.db.count("SELECT COUNT(*) AS n FROM oneoff_runs"), 0);
    }
    assert_eq!(p.status_of(&id), "pending");
}
