//! Keeping a request's URL query out of transport error messages.

/// `message` with every copy of the request's URL `query` replaced: some HTTP libraries quote
/// the URL in their errors, and an API query may carry secrets.
pub(crate) fn without_query(message: String, query: Option<&str>) -> String {
    match query {
        Some(query) if !query.is_empty() && message.contains(query) => {
            message.replace(query, "[query]")
        }
        _ => message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_query_is_replaced_wherever_it_is_quoted() {
        let message = "bad uri: http://h/p?key=s3cret (http://h/p?key=s3cret)".to_owned();
        assert_eq!(
            without_query(message, Some("key=s3cret")),
            "bad uri: http://h/p?[query] (http://h/p?[query])"
        );
        assert_eq!(without_query("refused".to_owned(), Some("a=b")), "refused");
        assert_eq!(without_query("x?".to_owned(), Some("")), "x?");
    }
}
