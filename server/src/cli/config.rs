//! The optional TOML configuration file of `dqlite-server` (`--config
//! FILE`): its keys are the long flag names of the node's options, and
//! the command line overrides it.
//!
//! ```toml
//! id = 2
//! address = "127.0.0.1:9002"
//! join = ["127.0.0.1:9001"]
//! election-timeout = 1000
//! tls-cert = "/etc/dqlite/cluster.crt"
//! ```
//!
//! The file is parsed by the `toml` crate; each key is then checked
//! against the flags clap knows and turned into the flag it names
//! (`--election-timeout=1000`, one `--join=…` per array element), so
//! that a value in the file is checked exactly as on the command line.
//! A flag given on the command line drops the file's key (a list such
//! as `join` is replaced, not extended).

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use clap::parser::ValueSource;
use clap::{ArgAction, ArgMatches, CommandFactory, FromArgMatches};

/// Flags a configuration file cannot set.
const NOT_IN_FILE: &[&str] = &["config", "help", "version"];

/// What is wrong with a configuration file.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConfigError {
    #[error("cannot read the config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path} is not valid TOML: {message}")]
    Syntax { path: PathBuf, message: String },
    #[error(
        "config file {path}: unknown key {key:?} (keys are the long flag names of \
         `dqlite-server --help`, such as election-timeout)"
    )]
    UnknownKey { path: PathBuf, key: String },
    #[error("config file {path}: key {key:?} {problem}")]
    BadValue {
        path: PathBuf,
        key: String,
        problem: &'static str,
    },
    #[error("config file {path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

/// Parses the process's arguments into `T`, merged with the
/// configuration file that `config_of` finds in them, if any. Exits as
/// clap does on a bad command line (or `--help`, `--version`).
pub(crate) fn parse<T: CommandFactory + FromArgMatches>(
    config_of: impl Fn(&T) -> Option<&Path>,
) -> Result<T, ConfigError> {
    parse_from(std::env::args_os().collect(), config_of)
}

fn parse_from<T: CommandFactory + FromArgMatches>(
    argv: Vec<OsString>,
    config_of: impl Fn(&T) -> Option<&Path>,
) -> Result<T, ConfigError> {
    let command = T::command();
    let matches = command.clone().get_matches_from(&argv);
    let args = T::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    let Some(path) = config_of(&args).map(Path::to_owned) else {
        return Ok(args);
    };
    let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::Read {
        path: path.clone(),
        source,
    })?;
    let table: toml::Table = toml::from_str(&text).map_err(|e| ConfigError::Syntax {
        path: path.clone(),
        message: e.message().to_owned(),
    })?;
    let flags = flags_of(&command, &matches, &table, &path)?;
    let program = argv
        .first()
        .cloned()
        .unwrap_or_else(|| "dqlite-server".into());
    // The file's flags alone first, so that a bad value is blamed on the
    // file rather than on the command line.
    if let Err(e) = command
        .clone()
        .try_get_matches_from(std::iter::once(program.clone()).chain(flags.iter().cloned()))
    {
        let rendered = e.to_string();
        let first = rendered.lines().next().unwrap_or_default();
        return Err(ConfigError::Invalid {
            path,
            message: first.trim_start_matches("error: ").to_owned(),
        });
    }
    let merged = std::iter::once(program)
        .chain(flags)
        .chain(argv.into_iter().skip(1));
    let matches = command.get_matches_from(merged);
    Ok(T::from_arg_matches(&matches).unwrap_or_else(|e| e.exit()))
}

/// The flags `table` stands for, leaving out those the command line
/// (`matches`) sets itself.
fn flags_of(
    command: &clap::Command,
    matches: &ArgMatches,
    table: &toml::Table,
    path: &Path,
) -> Result<Vec<OsString>, ConfigError> {
    let mut flags = Vec::new();
    for (key, value) in table {
        let arg = command
            .get_arguments()
            .find(|a| a.get_long() == Some(key.as_str()) && !NOT_IN_FILE.contains(&key.as_str()))
            .ok_or_else(|| ConfigError::UnknownKey {
                path: path.to_owned(),
                key: key.clone(),
            })?;
        if matches.value_source(arg.get_id().as_str()) == Some(ValueSource::CommandLine) {
            continue;
        }
        let bad = |problem| ConfigError::BadValue {
            path: path.to_owned(),
            key: key.clone(),
            problem,
        };
        match (arg.get_action(), value) {
            (ArgAction::SetTrue, toml::Value::Boolean(on)) => {
                if *on {
                    flags.push(format!("--{key}").into());
                }
            }
            (ArgAction::SetTrue, _) => return Err(bad("must be true or false")),
            (ArgAction::Append, toml::Value::Array(values)) => {
                for value in values {
                    let value = scalar(value).ok_or_else(|| bad("must hold strings or numbers"))?;
                    flags.push(format!("--{key}={value}").into());
                }
            }
            (_, toml::Value::Array(_)) => return Err(bad("takes one value, not a list")),
            (_, value) => {
                let value = scalar(value).ok_or_else(|| bad("must be a string or a number"))?;
                flags.push(format!("--{key}={value}").into());
            }
        }
    }
    Ok(flags)
}

/// A string, number or boolean as a flag's value.
fn scalar(value: &toml::Value) -> Option<String> {
    match value {
        toml::Value::String(s) => Some(s.clone()),
        toml::Value::Integer(i) => Some(i.to_string()),
        toml::Value::Float(f) => Some(f.to_string()),
        toml::Value::Boolean(b) => Some(b.to_string()),
        toml::Value::Datetime(_) | toml::Value::Array(_) | toml::Value::Table(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, clap::Parser)]
    struct Demo {
        #[arg(long)]
        config: Option<PathBuf>,
        #[arg(long, default_value_t = 300)]
        election_timeout: u64,
        #[arg(long, value_delimiter = ',')]
        join: Vec<String>,
        #[arg(long)]
        verbose: bool,
    }

    fn run(file: &str, args: &[&str]) -> Result<Demo, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("demo.toml");
        std::fs::write(&path, file).unwrap();
        let mut argv: Vec<OsString> = vec!["demo".into(), "--config".into(), path.into()];
        argv.extend(args.iter().map(OsString::from));
        parse_from(argv, |d: &Demo| d.config.as_deref())
    }

    #[test]
    fn the_file_sets_values_and_the_command_line_wins() {
        let demo = run(
            "election-timeout = 1000\njoin = [\"a:1\", \"b:2\"]\nverbose = true\n",
            &[],
        )
        .unwrap();
        assert_eq!(demo.election_timeout, 1000);
        assert_eq!(demo.join, ["a:1", "b:2"]);
        assert!(demo.verbose);
        let demo = run(
            "election-timeout = 1000\njoin = [\"a:1\", \"b:2\"]\n",
            &["--election-timeout", "2000", "--join", "c:3"],
        )
        .unwrap();
        assert_eq!(demo.election_timeout, 2000);
        assert_eq!(demo.join, ["c:3"]);
    }

    #[test]
    fn bad_files_are_refused_with_the_key_and_the_file() {
        let unknown = run("election_timeout = 5\n", &[]).unwrap_err().to_string();
        assert!(
            unknown.contains("unknown key \"election_timeout\""),
            "{unknown}"
        );
        assert!(unknown.contains("demo.toml"), "{unknown}");
        let config = run("config = \"x.toml\"\n", &[]).unwrap_err().to_string();
        assert!(config.contains("unknown key \"config\""), "{config}");
        let list = run("election-timeout = [1, 2]\n", &[])
            .unwrap_err()
            .to_string();
        assert!(list.contains("takes one value"), "{list}");
        let value = run("election-timeout = \"soon\"\n", &[])
            .unwrap_err()
            .to_string();
        assert!(
            value.contains("demo.toml") && value.contains("soon"),
            "{value}"
        );
        let syntax = run("election-timeout = \n", &[]).unwrap_err().to_string();
        assert!(syntax.contains("not valid TOML"), "{syntax}");
    }
}
