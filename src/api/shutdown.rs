//! Streamed responses (`logs -f`, build output) end when skiffd begins to stop, so a graceful
//! shutdown waits only for requests that finish by themselves.

use axum::body::Body;
use axum::body::HttpBody as _;
use axum::extract::State;
use axum::response::Response;
use futures_util::StreamExt;
use tokio::sync::watch;

/// Flips to `true` once when skiffd begins to stop.
pub type StopSignal = watch::Receiver<bool>;

/// Middleware for `axum::middleware::map_response_with_state`: a body whose length is known is
/// sent as it is; a streamed one is cut at its next chunk boundary once `stop` turns true.
pub async fn end_streams_on_stop(State(stop): State<StopSignal>, response: Response) -> Response {
    if response.body().size_hint().exact().is_some() {
        return response;
    }
    let (parts, body) = response.into_parts();
    let mut stop = stop;
    let stopping = async move {
        // An error means the sender is gone: skiffd is stopping either way.
        let _ = stop.wait_for(|stopping| *stopping).await;
    };
    let stream = body.into_data_stream().take_until(stopping);
    Response::from_parts(parts, Body::from_stream(stream))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    fn streamed(chunks: Vec<&'static str>) -> Response {
        let endless = futures_util::stream::iter(chunks)
            .map(Ok::<_, std::io::Error>)
            .chain(futures_util::stream::pending());
        Response::new(Body::from_stream(endless))
    }

    #[tokio::test]
    async fn a_stream_ends_when_skiffd_stops_and_sized_bodies_pass_untouched() {
        let (tx, rx) = watch::channel(false);
        let sized = end_streams_on_stop(State(rx.clone()), Response::new(Body::from("whole")));
        let sized = sized.await;
        assert_eq!(sized.body().size_hint().exact(), Some(5));

        let mut body = end_streams_on_stop(State(rx), streamed(vec!["a\n", "b\n"]))
            .await
            .into_body();
        let first = body.frame().await.unwrap().unwrap().into_data().unwrap();
        assert_eq!(first, "a\n");
        tx.send(true).unwrap();
        let rest = tokio::time::timeout(std::time::Duration::from_secs(1), body.collect())
            .await
            .expect("the stream ends once skiffd stops")
            .unwrap()
            .to_bytes();
        assert!(rest.is_empty() || rest == "b\n", "rest: {rest:?}");
    }
}
