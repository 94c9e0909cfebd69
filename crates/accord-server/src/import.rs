//! ERP data over HTTP: `POST /v1/import/{suppliers|contracts|spend}` with the CSV file as
//! the body (`Content-Type: text/csv`), the same columns and rules as
//! `accord import` (`docs/import.md`). The file is all or nothing: a bad row is reported
//! as `line`, `column` and what is wrong, and nothing is written; importing the same file
//! again changes nothing. The importer itself lives with the command line; the binary
//! hands it to the server as an [`Importer`].

use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use serde::Serialize;
use serde_json::json;

use crate::AppState;
use crate::auth::Role;
use crate::error::{ApiError, ErrorBody};

/// The largest CSV file accepted over HTTP; larger files go through `accord import`.
pub const MAX_IMPORT_BYTES: usize = 64 * 1024 * 1024;

/// What an import did.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Imported {
    pub rows: u64,
    pub created: u64,
    pub updated: u64,
    pub unchanged: u64,
}

/// One bad field of the file.
#[derive(Clone, Debug, Serialize)]
pub struct BadField {
    pub line: u64,
    pub column: String,
    pub message: String,
}

/// Why an import wrote nothing.
#[derive(Debug)]
pub enum ImportRefused {
    /// Bad rows: the first ones, and how many in all.
    Rows { errors: Vec<BadField>, total: usize },
    /// Something other than the file went wrong.
    Failed(String),
}

/// Imports the CSV file at the path as the named kind (`suppliers`, `contracts`, `spend`).
pub type Importer = Arc<
    dyn Fn(
            &'static str,
            &Path,
        ) -> Pin<Box<dyn Future<Output = Result<Imported, ImportRefused>> + Send>>
        + Send
        + Sync,
>;

#[utoipa::path(
    post, path = "/v1/import/{kind}",
    params(("kind" = String, Path, description = "`suppliers`, `contracts` or `spend`")),
    request_body(content = String, content_type = "text/csv", description = "The CSV file, with the header row of `docs/import.md`"),
    responses(
        (status = 200, description = "Imported: rows, created, updated, unchanged (a second import of the same file creates nothing)", body = serde_json::Value),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, description = "Not an importable kind", body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 415, body = ErrorBody),
        (status = 422, description = "invalid_rows: `details.errors` lists each bad field by line and column; nothing was written", body = ErrorBody),
        (status = 501, description = "This server was started without an importer", body = ErrorBody)),
    security(("api_key" = []))
)]
pub async fn post_import(
    State(state): State<AppState>,
    headers: HeaderMap,
    UrlPath(kind): UrlPath<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<impl IntoResponse, ApiError> {
    state.keys.check(&headers, Role::Admin)?;
    let kind: &'static str = match kind.as_str() {
        "suppliers" => "suppliers",
        "contracts" => "contracts",
        "spend" => "spend",
        other => {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                format!("`{other}` cannot be imported: use suppliers, contracts or spend"),
            ));
        }
    };
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !content_type.starts_with("text/csv") {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            format!("`Content-Type: {content_type}` is not accepted: send text/csv"),
        ));
    }
    let body = crate::body::bytes(body)?;
    let importer = state.importer.clone().ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_IMPLEMENTED,
            "not_implemented",
            "this server imports nothing over HTTP; use `accord import`",
        )
    })?;
    let internal = |e: std::io::Error| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            format!("cannot stage the upload: {e}"),
        )
    };
    let dir = tempfile::tempdir().map_err(internal)?;
    let file = dir.path().join(format!("{kind}.csv"));
    tokio::fs::write(&file, &body).await.map_err(internal)?;
    match importer(kind, &file).await {
        Ok(done) => Ok(Json(done)),
        Err(ImportRefused::Rows { errors, total }) => Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_rows",
            format!("the file has {total} bad field(s); nothing was imported"),
        )
        .with_details(json!({ "errors": errors, "total": total }))),
        Err(ImportRefused::Failed(m)) => Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            m,
        )),
    }
}
