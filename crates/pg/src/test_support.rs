//! What the tests of every connector and its fake need to play the browser between openimp and
//! a PG's pages: reading the form a page auto-submits. Built only with the `test-support`
//! feature (the connector crates and the binary take it as a dev-dependency).

/// The first form of a page: its `action` and its hidden fields, HTML-unescaped, in order
/// (the auto-submitted hand-off and return pages of openimp and of the PG fakes).
pub fn form_of(html: &str) -> (String, Vec<(String, String)>) {
    let form_start = html.find("<form").unwrap_or_else(|| panic!("no form in {html}"));
    let form = &html[form_start..];
    let form_tag = &form[..form.find('>').expect("a closed form tag")];
    let action = attribute(form_tag, "action").unwrap_or_default();
    let fields = form
        .split("<input type=\"hidden\"")
        .skip(1)
        .map(|rest| {
            let tag = &rest[..rest.find('>').expect("a closed input tag")];
            let name = attribute(tag, "name").expect("a hidden input with a name");
            (name, attribute(tag, "value").unwrap_or_default())
        })
        .collect();
    (action, fields)
}

/// The value of attribute `name` in an HTML tag's text, unescaped.
fn attribute(tag: &str, name: &str) -> Option<String> {
    let start = tag.find(&format!(" {name}=\""))? + name.len() + 3;
    let end = start + tag[start..].find('"')?;
    Some(unescape(&tag[start..end]))
}

fn unescape(text: &str) -> String {
    text.replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_first_forms_action_and_hidden_fields_unescaped() {
        let html = r#"<p><input name="shown" value="no"></p>
<form method="post" action="https://pg.example/pay?a=1&amp;b=2" id="f">
<input type="hidden" name="oid" value="imp_1">
<input type="hidden" name="goods" value="&quot;A&amp;B&quot; &lt;1&gt; it&#39;s">
<input type="hidden" name="empty">
<label><input name="card_number" value="visible"></label></form>"#;
        let (action, fields) = form_of(html);
        assert_eq!(action, "https://pg.example/pay?a=1&b=2");
        let expected = [("oid", "imp_1"), ("goods", "\"A&B\" <1> it's"), ("empty", "")];
        let expected: Vec<(String, String)> =
            expected.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        assert_eq!(fields, expected);
    }
}
