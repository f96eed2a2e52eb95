//! Cursor pagination as a stream: pages are fetched as the caller reads, one at a time, so a
//! caller that stops early fetches no more.

use std::collections::VecDeque;

use futures_util::Stream;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::{decode, decode_bytes, form_fields, Body, WebClient, WebError};

/// Items per page asked for when the caller did not say (Slack recommends 100–200).
const DEFAULT_PAGE: u32 = 200;

struct Cursor<T> {
    web: WebClient,
    method: &'static str,
    args: Value,
    items: &'static str,
    buffer: VecDeque<Value>,
    /// `None` before the first page; then the next cursor, empty when done.
    next: Option<String>,
    _item: std::marker::PhantomData<fn() -> T>,
}

impl WebClient {
    /// Every item under `items` across all pages of `method` called with `args` (a JSON
    /// object). Follows `response_metadata.next_cursor` until it is empty; each page is one
    /// call with the usual retries and rate limits. An error ends the stream after it is
    /// yielded.
    pub fn paginate<T: DeserializeOwned + Send + 'static>(
        &self,
        method: &'static str,
        args: Value,
        items: &'static str,
    ) -> impl Stream<Item = Result<T, WebError>> + Send + 'static {
        let mut args = if args.is_object() {
            args
        } else {
            Value::Object(serde_json::Map::new())
        };
        if args.get("limit").is_none() {
            args["limit"] = DEFAULT_PAGE.into();
        }
        let start = Cursor::<T> {
            web: self.clone(),
            method,
            args,
            items,
            buffer: VecDeque::new(),
            next: None,
            _item: std::marker::PhantomData,
        };
        futures_util::stream::unfold(Some(start), |state| async move {
            let mut cursor = state?;
            loop {
                if let Some(item) = cursor.buffer.pop_front() {
                    let item = decode(cursor.method, item);
                    return Some((item, Some(cursor)));
                }
                if cursor.next.as_deref() == Some("") {
                    return None;
                }
                match cursor.fetch().await {
                    Ok(()) => {}
                    Err(error) => return Some((Err(error), None)),
                }
            }
        })
    }
}

impl<T> Cursor<T> {
    /// Fetches the next page into the buffer.
    async fn fetch(&mut self) -> Result<(), WebError> {
        let mut args = self.args.clone();
        if let Some(cursor) = self.next.as_deref().filter(|c| !c.is_empty()) {
            args["cursor"] = cursor.into();
        }
        let body = Body::Form(form_fields(self.method, &args)?);
        let answer = self.web.send(self.method, body).await?;
        let mut page: Value = decode_bytes(self.method, &answer)?;
        let next = page
            .get("response_metadata")
            .and_then(|meta| meta.get("next_cursor"))
            .and_then(Value::as_str)
            .unwrap_or_default();
        self.next = Some(next.to_owned());
        match page.get_mut(self.items).map(Value::take) {
            Some(Value::Array(items)) => self.buffer.extend(items),
            Some(Value::Null) | None => {}
            Some(other) => {
                return Err(WebError::Decode {
                    method: self.method.to_owned(),
                    detail: format!("`{}` is not a list: {other}", self.items),
                })
            }
        }
        Ok(())
    }
}
