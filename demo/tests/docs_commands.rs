//! The shell commands of README.md and docs/*.md that are marked runnable, run as a reader
//! would run them, in document order, against one real broker: a doc whose commands
//! break fails this test.
//!
//! A block is marked runnable by its info string: ```` ```sh runnable ````. Each line of
//! it is one command (a trailing ` # comment` is dropped, `\` continues a line). The
//! commands a reader types are translated to the binaries this build made:
//!
//! | in the docs                                          | run here                         |
//! |------------------------------------------------------|----------------------------------|
//! | `cargo run -p minikafka-broker [--release] -- ARGS`  | `minikafka-broker ARGS`          |
//! | `cargo run -p minikafka-broker [--release]` (serve)  | nothing: the test's broker serves |
//! | `cargo run -p minikafka-demo [--release] --bin B -- ARGS` | `B ARGS --bootstrap-server <broker>` |
//! | `kcat ARGS`                                          | `kcat ARGS` (the kit's external-client rule) |
//!
//! A ```` ```python runnable ```` block is one script, run whole (`python3 -c SCRIPT`)
//! by the kit's Python, the one with kafka-python (the external-client rule again).
//!
//! `127.0.0.1:9092` and `localhost:9092` in a command become the test broker's address,
//! and `./data` is that broker's data directory (each command runs in a directory where
//! `data` links to it).
//!
//! What must stay true: every runnable command exits 0 within the kit's bound; a command
//! this test cannot translate fails it (rather than being skipped), so a runnable block
//! only holds commands a reader can run as written.

use std::path::{Path, PathBuf};

use minikafka_testkit::{external, TestBroker};
use tokio::process::Command;

/// Where the reader of a markdown file is.
#[derive(Clone, Copy, PartialEq)]
enum Block {
    Outside,
    /// A block that is not runnable.
    Other,
    Sh,
    /// A `python runnable` block, which started on this line.
    Python(usize),
}

/// The runnable blocks of one markdown file, in order: (line number, command). A
/// `python runnable` block is one command, `python3 -c <the block>`.
fn runnable_commands(markdown: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut block = Block::Outside;
    let mut pending = String::new();
    for (i, line) in markdown.lines().enumerate() {
        let trimmed = line.trim();
        if let Some(info) = trimmed.strip_prefix("```") {
            let words: Vec<&str> = info.split_whitespace().collect();
            block = match block {
                Block::Python(start) => {
                    out.push((
                        start,
                        format!("python3 -c {}", std::mem::take(&mut pending)),
                    ));
                    Block::Outside
                }
                Block::Sh | Block::Other => Block::Outside,
                Block::Outside if !words.contains(&"runnable") => Block::Other,
                Block::Outside if words.first() == Some(&"python") => Block::Python(i + 2),
                Block::Outside => Block::Sh,
            };
            continue;
        }
        match block {
            Block::Python(_) => {
                pending.push_str(line);
                pending.push('\n');
            }
            Block::Sh if !trimmed.is_empty() && !trimmed.starts_with('#') => {
                let command = trimmed.split(" # ").next().unwrap_or_default().trim_end();
                if let Some(head) = command.strip_suffix('\\') {
                    pending.push_str(head);
                    continue;
                }
                pending.push_str(command);
                out.push((i + 1, std::mem::take(&mut pending)));
            }
            _ => {}
        }
    }
    out
}

/// What a documented command becomes here.
enum Run {
    /// Starting the broker: the test's broker already serves.
    Broker,
    Program(PathBuf, Vec<String>),
    /// An external client the kit's rule says to skip (it printed why).
    Skipped,
}

/// Where the workspace's binaries are: beside the demo's own.
fn bin(name: &str) -> PathBuf {
    let path = Path::new(env!("CARGO_BIN_EXE_producer")).with_file_name(name);
    assert!(
        path.is_file(),
        "{} is not built; run the docs test with `cargo test --workspace`",
        path.display()
    );
    path
}

fn translate(command: &str, bootstrap: &str) -> Result<Run, String> {
    let command = command
        .replace("127.0.0.1:9092", bootstrap)
        .replace("localhost:9092", bootstrap);
    if let Some(script) = command.strip_prefix("python3 -c ") {
        return Ok(match external::python() {
            Some(python) => Run::Program(python, vec!["-c".to_string(), script.to_string()]),
            None => Run::Skipped,
        });
    }
    let words: Vec<String> = command.split_whitespace().map(str::to_string).collect();
    let (program, rest) = words.split_first().ok_or("empty command")?;
    if program == "kcat" {
        return Ok(match external::kcat() {
            Some(kcat) => Run::Program(kcat, rest.to_vec()),
            None => Run::Skipped,
        });
    }
    if program != "cargo" || rest.first().map(String::as_str) != Some("run") {
        return Err(format!(
            "only `cargo run …` and `kcat …` can run here: {command}"
        ));
    }
    // cargo's own flags come before `--`, the program's after it.
    let split = rest.iter().position(|w| w == "--").unwrap_or(rest.len());
    let (cargo_args, program_args) = (&rest[1..split], rest.get(split + 1..).unwrap_or(&[]));
    let flag = |name: &str| {
        cargo_args
            .iter()
            .position(|w| w == name)
            .and_then(|i| cargo_args.get(i + 1))
    };
    let package = flag("-p").ok_or(format!("no -p in {command}"))?;
    let mut args = program_args.to_vec();
    match package.as_str() {
        "minikafka-broker" if args.is_empty() || args[0] == "serve" => Ok(Run::Broker),
        "minikafka-broker" => Ok(Run::Program(bin("minikafka-broker"), args)),
        "minikafka-demo" => {
            let name = flag("--bin").ok_or(format!("no --bin in {command}"))?;
            if !args.iter().any(|a| a == "--bootstrap-server") {
                args.extend(["--bootstrap-server".to_string(), bootstrap.to_string()]);
            }
            Ok(Run::Program(bin(name), args))
        }
        other => Err(format!("unknown package {other} in {command}")),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_runnable_command_in_the_docs_works() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files = vec![root.join("README.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root.join("docs"))
        .expect("docs/")
        .map(|e| e.expect("docs entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    files.extend(docs);

    let broker = TestBroker::builder()
        .partitions(3)
        .start()
        .await
        .expect("broker starts");
    let cwd = tempfile::tempdir().expect("working dir");
    std::os::unix::fs::symlink(broker.data_dir(), cwd.path().join("data")).expect("data link");

    let mut ran = 0;
    for file in &files {
        let text = std::fs::read_to_string(file).expect("markdown");
        let name = file
            .strip_prefix(&root)
            .unwrap_or(file)
            .display()
            .to_string();
        for (line, command) in runnable_commands(&text) {
            let run = translate(&command, &broker.bootstrap())
                .unwrap_or_else(|e| panic!("{name}:{line}: {e}"));
            let Run::Program(program, args) = run else {
                continue;
            };
            let out = external::output(
                Command::new(&program)
                    .args(&args)
                    .current_dir(cwd.path())
                    .env("RUST_LOG", "warn"),
            )
            .await;
            assert!(
                out.status.success(),
                "{name}:{line}: `{command}` failed ({})\nstdout:\n{}\nstderr:\n{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            ran += 1;
        }
    }
    assert!(ran > 0, "no runnable command found in README.md or docs/");
    broker.stop().await;
}

#[test]
fn blocks_lines_and_comments_are_read_as_a_reader_would() {
    let md = "text\n```sh runnable\ncargo run -p a -- x  # note\n# only a comment\n\
              kcat -b h \\\n  -L\n```\n```sh\nnot runnable\n```\n\
              ```python runnable\nimport kafka\n# kept\n\nprint(1)\n```\n```python\nno\n```\n";
    assert_eq!(
        runnable_commands(md),
        [
            (3, "cargo run -p a -- x".to_string()),
            (6, "kcat -b h -L".to_string()),
            (
                12,
                "python3 -c import kafka\n# kept\n\nprint(1)\n".to_string()
            )
        ]
    );
}
