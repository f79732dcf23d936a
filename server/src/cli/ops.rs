//! The `backup` and `restore` subcommands of `dqlite-server`: their
//! flags, and the call into `dqlite_server::backup`.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use dqlite_client::tls::ClientTls;
use dqlite_server::backup::{self, BackupError, Target};

/// Operations on a running cluster, run as a client.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Writes a database of a running cluster to a standalone SQLite file.
    ///
    /// The leader's image of the database, taken in one read transaction
    /// while writes go on: every write acknowledged before the backup
    /// started, and no half transaction. The file is checkpointed (no
    /// WAL), passes `PRAGMA integrity_check`, and replaces the --out file
    /// atomically. A --db name the cluster does not have is an error (no
    /// file is written); on any error an existing --out file is left
    /// untouched.
    Backup {
        #[command(flatten)]
        cluster: ClusterArgs,
        /// The file to write.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// Largest database accepted, in bytes (the leader sends it in one
        /// message, held in memory).
        #[arg(long, default_value_t = backup::DEFAULT_MAX_SIZE, value_name = "BYTES")]
        max_size: usize,
    },
    /// Loads a SQLite file into a database of a running cluster.
    ///
    /// Through the leader with SQL, so that every node gets the content as
    /// replicated writes: tables in the file's order, rows in INSERT
    /// batches of at most 1 MiB (rowids kept), AUTOINCREMENT counters,
    /// then indexes, views and triggers, user_version and application_id.
    /// Not one transaction: readers may see a partial load, and a failed
    /// restore is run again with --force. Refused: a database that is not
    /// empty (without --force), virtual tables, text holding NUL bytes.
    /// sqlite_stat tables are not copied (run ANALYZE).
    Restore {
        #[command(flatten)]
        cluster: ClusterArgs,
        /// Drop everything the database holds first, instead of refusing a
        /// database that is not empty.
        #[arg(long)]
        force: bool,
        /// The SQLite file to load.
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
}

/// Which database of which cluster, and how to reach it.
#[derive(Debug, clap::Args)]
pub struct ClusterArgs {
    /// Addresses of some of the cluster's nodes, comma-separated; the
    /// leader is found through them.
    #[arg(
        long,
        value_delimiter = ',',
        required = true,
        value_name = "ADDRESS,..."
    )]
    servers: Vec<String>,
    /// The database's name.
    #[arg(long, value_name = "NAME")]
    db: String,
    /// Seconds one answer from the cluster may take.
    #[arg(long, default_value_t = backup::DEFAULT_TIMEOUT.as_secs(), value_name = "SECONDS")]
    timeout: u64,
    /// PEM certificate (chain) to present to the nodes: with --tls-key,
    /// connections are TLS (for a cluster started with --tls-cert).
    #[arg(long, requires = "tls_key", value_name = "FILE")]
    tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, requires = "tls_cert", value_name = "FILE")]
    tls_key: Option<PathBuf>,
    /// PEM certificates the nodes' certificates must chain to; without
    /// it, --tls-cert itself is the only trusted certificate (one shared
    /// cluster certificate).
    #[arg(long, requires = "tls_cert", value_name = "FILE")]
    tls_ca: Option<PathBuf>,
    /// The name the nodes' certificates must be valid for (default: the
    /// first DNS name of --tls-cert).
    #[arg(long, requires = "tls_cert", value_name = "NAME")]
    tls_server_name: Option<String>,
}

impl ClusterArgs {
    /// A hint to add to `error`: a plain client that finds no leader may
    /// be talking to a TLS cluster (whose nodes close plain connections).
    fn hint(&self, error: &BackupError) -> &'static str {
        let no_leader = matches!(
            error,
            BackupError::Client(dqlite_client::Error::NoLeader { .. })
        );
        if no_leader && self.tls_cert.is_none() {
            " (if the cluster uses TLS, give --tls-cert and --tls-key)"
        } else {
            ""
        }
    }

    fn target(&self) -> anyhow::Result<Target> {
        let mut target = Target::new(self.servers.clone(), self.db.clone());
        target.timeout = Duration::from_secs(self.timeout);
        if let (Some(cert), Some(key)) = (&self.tls_cert, &self.tls_key) {
            let mut tls = ClientTls::from_files(cert, key, self.tls_ca.as_deref())
                .context("cannot load the TLS certificate")?;
            if let Some(name) = &self.tls_server_name {
                tls = tls
                    .with_server_name(name)
                    .with_context(|| format!("bad --tls-server-name {name:?}"))?;
            }
            target.tls = Some(tls);
        }
        Ok(target)
    }
}

/// Runs `command`, printing a one-line summary on stdout.
pub async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Backup {
            cluster,
            out,
            max_size,
        } => {
            let mut target = cluster.target()?;
            target.max_size = max_size;
            let report = backup::backup(&target, &out).await.map_err(|e| {
                let hint = cluster.hint(&e);
                anyhow::Error::new(e)
                    .context(format!("cannot back up database {:?}{hint}", target.db))
            })?;
            println!(
                "backed up database {:?} from {} to {} ({} bytes, {} tables/indexes/views/triggers{})",
                target.db,
                report.leader,
                out.display(),
                report.bytes,
                report.objects,
                if report.objects == 0 {
                    ": the database is empty"
                } else {
                    ""
                }
            );
        }
        Command::Restore {
            cluster,
            force,
            file,
        } => {
            let target = cluster.target()?;
            let report = backup::restore(&target, &file, force).await.map_err(|e| {
                let hint = cluster.hint(&e);
                anyhow::Error::new(e).context(format!(
                    "cannot restore {} into database {:?}{hint}",
                    file.display(),
                    target.db
                ))
            })?;
            println!(
                "restored {} into database {:?}: {} tables, {} rows, {} indexes/views/triggers{}",
                file.display(),
                target.db,
                report.tables,
                report.rows,
                report.others,
                if report.dropped > 0 {
                    format!(" ({} objects dropped first)", report.dropped)
                } else {
                    String::new()
                }
            );
        }
    }
    Ok(())
}
