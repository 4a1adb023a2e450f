//! Exporting the audit log: pages through `list_audit` to the end, writing each page as it
//! arrives (CSV or a JSON array, `hallpass_core::audit_export`). The CLI's `audit export` and
//! the TUI's export both use it. Invariant: one page in memory, however long the log.

use std::io::Write;

use hallpass_core::audit_export::{ExportFormat, ExportWriter};
use tarpc::client::RpcError;
use tarpc::context::Context;

use crate::{ApiError, AuditQuery, HallpassClient};

/// Events asked for per page.
pub const EXPORT_PAGE: u32 = 500;

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(transparent)]
    Api(ApiError),
    #[error("no answer from hallpassd: {0}")]
    Rpc(RpcError),
    #[error(transparent)]
    Io(std::io::Error),
}

/// Writes every event `query` matches to `sink`; the number written.
pub async fn export_audit<W: Write>(
    client: &HallpassClient,
    ctx: impl Fn() -> Context,
    mut query: AuditQuery,
    format: ExportFormat,
    sink: W,
) -> Result<u64, ExportError> {
    let mut w = ExportWriter::start(format, sink).map_err(ExportError::Io)?;
    loop {
        query.limit = EXPORT_PAGE;
        let page = client
            .list_audit(ctx(), query.clone())
            .await
            .map_err(ExportError::Rpc)?
            .map_err(ExportError::Api)?;
        for e in &page.items {
            w.event(e).map_err(ExportError::Io)?;
        }
        match page.next {
            Some(next) if !page.items.is_empty() && query.after.as_deref() != Some(&next) => {
                query.after = Some(next);
            }
            _ => break,
        }
    }
    w.finish().map_err(ExportError::Io)
}
