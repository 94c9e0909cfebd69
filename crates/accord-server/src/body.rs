//! Request bodies read as bytes and parsed here, so that an oversize body, unreadable
//! JSON and JSON of the wrong shape get Accord's own error codes, not the framework's.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// The body's bytes; a body over the route's limit is a 413 `body_too_large`.
pub(crate) fn bytes(body: Result<Bytes, BytesRejection>) -> Result<Bytes, ApiError> {
    body.map_err(|e| {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            e.to_string(),
        )
    })
}

/// Parses JSON: unreadable JSON is a 400 `malformed_json`; JSON of the wrong shape a 422
/// with code `what`, the message naming the field (and `hint`, when given, saying what
/// to send instead).
pub(crate) fn parse_json<T: DeserializeOwned>(
    body: &[u8],
    what: &'static str,
    hint: Option<&str>,
) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        if e.is_syntax() || e.is_eof() {
            ApiError::bad_request("malformed_json", e.to_string())
        } else {
            let message = match hint {
                Some(h) => format!("{e}; {h}"),
                None => e.to_string(),
            };
            ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, what, message)
        }
    })
}

/// [`bytes`] then [`parse_json`].
pub(crate) fn json_body<T: DeserializeOwned>(
    body: Result<Bytes, BytesRejection>,
    what: &'static str,
) -> Result<T, ApiError> {
    parse_json(&bytes(body)?, what, None)
}
