//! The live log view's stream: the API's followed log of an app, as server-sent events, one
//! event per line.

use std::convert::Infallible;

use axum::extract::{Path, Query, State};
use axum::http::{Method, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use serde::Deserialize;

use super::api_call::encode;
use super::Dashboard;

/// Past lines sent before the live ones.
const PAST_LINES: u32 = 100;

#[derive(Deserialize)]
pub(crate) struct EventsQuery {
    dyno: Option<String>,
}

/// Splits a stream of chunks into whole lines, keeping a partial line for the next chunk.
#[derive(Debug, Default)]
pub(crate) struct Lines {
    partial: Vec<u8>,
}

impl Lines {
    pub(crate) fn push(&mut self, chunk: &[u8]) -> Vec<String> {
        self.partial.extend_from_slice(chunk);
        let mut lines = Vec::new();
        while let Some(end) = self.partial.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.partial.drain(..=end).collect();
            lines.push(String::from_utf8_lossy(&line[..end]).into_owned());
        }
        lines
    }
}

/// `GET /apps/{app}/logs/events?dyno=`: the app's log lines as they are written.
pub(crate) async fn events(
    State(dashboard): State<Dashboard>,
    Path(app): Path<String>,
    Query(query): Query<EventsQuery>,
) -> Response {
    let mut path = format!(
        "/v1/apps/{}/logs?follow=true&lines={PAST_LINES}",
        encode(&app)
    );
    if let Some(dyno) = query.dyno.filter(|d| !d.is_empty()) {
        path.push_str(&format!("&dyno={}", encode(&dyno)));
    }
    let response = match dashboard.api.respond(Method::GET, &path, None).await {
        Ok(response) => response,
        Err(failure) => return (failure.status, failure.message).into_response(),
    };
    let mut lines = Lines::default();
    let stream = response
        .into_body()
        .into_data_stream()
        .take_while(|chunk| std::future::ready(chunk.is_ok()))
        .flat_map(move |chunk| {
            let events: Vec<Result<Event, Infallible>> = chunk
                .map(|bytes| lines.push(&bytes))
                .unwrap_or_default()
                .into_iter()
                .map(|line| Ok(Event::default().data(line)))
                .collect();
            futures_util::stream::iter(events)
        });
    (
        StatusCode::OK,
        Sse::new(stream).keep_alive(KeepAlive::default()),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_become_whole_lines() {
        let mut lines = Lines::default();
        assert_eq!(lines.push(b"one\ntw"), vec!["one"]);
        assert_eq!(lines.push(b"o\n\nthree"), vec!["two", ""]);
        assert!(lines.push(b" more").is_empty());
        assert_eq!(lines.push(b"\n"), vec!["three more"]);
    }
}
