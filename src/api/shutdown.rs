//! Streamed responses (`logs -f`, build output) end when skiffd begins to stop, so a graceful
//! shutdown waits only for requests that finish by themselves.

use axum::body::Body;
use axum::body::HttpBody as _;
use axum::extract::State;
use axum::response::Response;
use futures_util::StreamExt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tokio::sync::watch;

/// Flips to `true` once when skiffd begins to stop.
pub type StopSignal = watch::Receiver<bool>;

/// A response extension for streams that are worth nothing cut short (a server backup): when
/// skiffd stops, such a stream ends with an error, so the client cannot take it for whole.
#[derive(Debug, Clone, Copy)]
pub struct WholeOrNothing;

/// Middleware for `axum::middleware::map_response_with_state`: a body whose length is known is
/// sent as it is; a streamed one is cut at its next chunk boundary once `stop` turns true (with
/// an error at the cut when it is [`WholeOrNothing`]).
pub async fn end_streams_on_stop(State(stop): State<StopSignal>, response: Response) -> Response {
    if response.body().size_hint().exact().is_some() {
        return response;
    }
    let whole_or_nothing = response.extensions().get::<WholeOrNothing>().is_some();
    let (parts, body) = response.into_parts();
    let cut = Arc::new(AtomicBool::new(false));
    let mut stop = stop;
    let stopping = {
        let cut = Arc::clone(&cut);
        async move {
            // An error means the sender is gone: skiffd is stopping either way.
            let _ = stop.wait_for(|stopping| *stopping).await;
            cut.store(true, Ordering::SeqCst);
        }
    };
    let stream = body.into_data_stream().take_until(stopping);
    if !whole_or_nothing {
        return Response::from_parts(parts, Body::from_stream(stream));
    }
    let tail = futures_util::stream::once(async move {
        let error = std::io::Error::other("skiffd stopped before the stream ended");
        cut.load(Ordering::SeqCst)
            .then(|| Err(axum::Error::new(error)))
    })
    .filter_map(std::future::ready);
    Response::from_parts(parts, Body::from_stream(stream.chain(tail)))
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
    async fn a_whole_or_nothing_stream_cut_by_a_stop_ends_with_an_error() {
        let (tx, rx) = watch::channel(false);
        let mut whole = streamed(vec!["a\n"]);
        whole.extensions_mut().insert(WholeOrNothing);
        let mut body = end_streams_on_stop(State(rx), whole).await.into_body();
        let first = body.frame().await.unwrap().unwrap().into_data().unwrap();
        assert_eq!(first, "a\n");
        tx.send(true).unwrap();
        let rest = tokio::time::timeout(std::time::Duration::from_secs(1), body.collect())
            .await
            .expect("the stream ends once skiffd stops");
        assert!(rest.is_err(), "a cut stream is an error, never a clean end");
    }

    #[tokio::test]
    async fn a_whole_or_nothing_stream_that_ends_by_itself_ends_cleanly() {
        let (_tx, rx) = watch::channel(false);
        let chunks = futures_util::stream::iter(["a\n", "b\n"]).map(Ok::<_, std::io::Error>);
        let mut whole = Response::new(Body::from_stream(chunks));
        whole.extensions_mut().insert(WholeOrNothing);
        let body = end_streams_on_stop(State(rx), whole).await.into_body();
        let all = body.collect().await.expect("no error").to_bytes();
        assert_eq!(all, "a\nb\n");
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
