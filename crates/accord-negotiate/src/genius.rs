//! Genius import: Genius XML domains and profiles, and GeniusWeb JSON profiles, read from
//! strings (the caller reads the files).
//!
//! Genius semantics: `U(ω) = Σᵢ wᵢ · evalᵢ(ωᵢ) / max_v evalᵢ(v)`. Discrete items carry an
//! `evaluation`; integer and real issues use `<evaluator ftype="linear" slope offset>`,
//! evaluated as `slope · (x − lowerbound) + offset`. Real issues are discretised into
//! [`REAL_ISSUE_VALUES`] evenly spaced values.

use std::collections::HashMap;

use quick_xml::events::Event;
use rust_decimal::Decimal;
use rust_decimal::prelude::FromPrimitive;
use serde_json::Value as Json;

use crate::NegotiateError;
use crate::space::{Issue, IssueKind, OutcomeSpace};
use crate::utility::{LinearAdditive, UtilityFunction, ValueFn};

/// Number of values a Genius `real` issue is discretised into.
pub const REAL_ISSUE_VALUES: u32 = 11;

/// A minimal XML element tree, enough for Genius files.
#[derive(Debug, Default)]
struct Element {
    name: String,
    attrs: Vec<(String, String)>,
    children: Vec<Element>,
}

impl Element {
    fn attr(&self, key: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    fn descendants<'a>(&'a self, name: &str, out: &mut Vec<&'a Element>) {
        for c in &self.children {
            if c.name == name {
                out.push(c);
            }
            c.descendants(name, out);
        }
    }

    fn find_all(&self, name: &str) -> Vec<&Element> {
        let mut out = Vec::new();
        self.descendants(name, &mut out);
        out
    }
}

fn xml_error(why: impl std::fmt::Display) -> NegotiateError {
    NegotiateError::Genius {
        why: why.to_string(),
    }
}

fn parse_xml(xml: &str) -> Result<Element, NegotiateError> {
    let mut reader = quick_xml::Reader::from_str(xml);
    reader.config_mut().trim_text(true);
    let mut stack: Vec<Element> = vec![Element::default()];
    let element = |e: &quick_xml::events::BytesStart<'_>,
                   reader: &quick_xml::Reader<&[u8]>|
     -> Result<Element, NegotiateError> {
        let name = String::from_utf8_lossy(e.name().as_ref()).into_owned();
        let mut attrs = Vec::new();
        for a in e.attributes() {
            let a = a.map_err(xml_error)?;
            let key = String::from_utf8_lossy(a.key.as_ref()).into_owned();
            let value = a
                .decode_and_unescape_value(reader.decoder())
                .map_err(xml_error)?
                .into_owned();
            attrs.push((key, value));
        }
        Ok(Element {
            name,
            attrs,
            children: Vec::new(),
        })
    };
    loop {
        match reader.read_event().map_err(xml_error)? {
            Event::Start(e) => {
                let el = element(&e, &reader)?;
                stack.push(el);
            }
            Event::Empty(e) => {
                let el = element(&e, &reader)?;
                stack
                    .last_mut()
                    .expect("root stays on the stack")
                    .children
                    .push(el);
            }
            Event::End(_) => {
                let el = stack.pop().expect("balanced by the reader");
                match stack.last_mut() {
                    Some(parent) => parent.children.push(el),
                    None => return Err(xml_error("unbalanced closing tag")),
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if stack.len() != 1 {
        return Err(xml_error("unclosed element"));
    }
    Ok(stack.pop().expect("length checked"))
}

fn number(el: &Element, key: &str) -> Result<f64, NegotiateError> {
    let raw = el
        .attr(key)
        .ok_or_else(|| xml_error(format!("`{}` has no `{key}`", el.name)))?;
    raw.trim()
        .parse::<f64>()
        .map_err(|_| xml_error(format!("`{raw}` is not a number")))
}

fn issue_type(el: &Element) -> &str {
    el.attr("type")
        .or_else(|| el.attr("vtype"))
        .or_else(|| el.attr("etype"))
        .unwrap_or("discrete")
}

fn parse_issue(el: &Element) -> Result<Issue, NegotiateError> {
    let name = el
        .attr("name")
        .ok_or_else(|| xml_error("issue without a `name`"))?
        .to_owned();
    let kind = match issue_type(el) {
        "integer" => {
            let lo = number(el, "lowerbound")? as i64;
            let hi = number(el, "upperbound")? as i64;
            IssueKind::Integer { lo, hi, step: 1 }
        }
        "real" => {
            let lo = number(el, "lowerbound")?;
            let hi = number(el, "upperbound")?;
            let dec = |x: f64| {
                Decimal::from_f64(x).ok_or_else(|| xml_error(format!("`{x}` is out of range")))
            };
            let (lo, hi) = (dec(lo)?, dec(hi)?);
            let tick = ((hi - lo) / Decimal::from(REAL_ISSUE_VALUES - 1)).max(Decimal::new(1, 9));
            IssueKind::Continuous { lo, hi, tick }
        }
        _ => {
            let values: Vec<String> = el
                .children
                .iter()
                .filter(|c| c.name == "item")
                .map(|c| c.attr("value").unwrap_or_default().to_owned())
                .collect();
            IssueKind::Unordered { values }
        }
    };
    Ok(Issue { name, kind })
}

/// Reads the outcome space of a Genius domain (or profile) file.
pub fn parse_domain(xml: &str) -> Result<OutcomeSpace, NegotiateError> {
    let root = parse_xml(xml)?;
    let issues = root
        .find_all("issue")
        .into_iter()
        .map(parse_issue)
        .collect::<Result<Vec<_>, _>>()?;
    OutcomeSpace::new(issues)
}

/// Whether an XML document is a Genius domain (a `negotiation_template`, or issues without
/// evaluations or weights) rather than a preference profile.
pub fn is_domain(xml: &str) -> bool {
    match parse_xml(xml) {
        Ok(root) => {
            root.children
                .iter()
                .any(|c| c.name == "negotiation_template")
                || (root.find_all("weight").is_empty()
                    && root
                        .find_all("item")
                        .iter()
                        .all(|i| i.attr("evaluation").is_none()))
        }
        Err(_) => false,
    }
}

/// Reads a Genius profile over `space`, matching issues by name.
pub fn parse_profile(xml: &str, space: &OutcomeSpace) -> Result<LinearAdditive, NegotiateError> {
    let root = parse_xml(xml)?;
    let issues = root.find_all("issue");
    let weights: HashMap<String, f64> = root
        .find_all("weight")
        .into_iter()
        .map(|w| {
            Ok((
                w.attr("index").unwrap_or_default().to_owned(),
                number(w, "value")?,
            ))
        })
        .collect::<Result<_, NegotiateError>>()?;
    let mut ws = Vec::new();
    let mut fns = Vec::new();
    for issue in space.issues() {
        let el = issues
            .iter()
            .find(|e| e.attr("name") == Some(issue.name.as_str()))
            .ok_or_else(|| xml_error(format!("profile has no issue `{}`", issue.name)))?;
        let index = el.attr("index").unwrap_or_default();
        ws.push(
            *weights
                .get(index)
                .ok_or_else(|| xml_error(format!("issue `{}` has no weight", issue.name)))?,
        );
        let evals: Vec<f64> = match &issue.kind {
            IssueKind::Unordered { values } | IssueKind::Ordered { values } => {
                let items: Vec<&Element> =
                    el.children.iter().filter(|c| c.name == "item").collect();
                values
                    .iter()
                    .map(|v| {
                        let item = items
                            .iter()
                            .find(|i| i.attr("value") == Some(v.as_str()))
                            .ok_or_else(|| {
                                xml_error(format!(
                                    "issue `{}` has no evaluation for `{v}`",
                                    issue.name
                                ))
                            })?;
                        number(item, "evaluation")
                    })
                    .collect::<Result<_, _>>()?
            }
            kind => {
                let ev = el
                    .children
                    .iter()
                    .find(|c| c.name == "evaluator")
                    .ok_or_else(|| xml_error(format!("issue `{}` has no evaluator", issue.name)))?;
                if ev.attr("ftype").unwrap_or("linear") != "linear" {
                    return Err(xml_error(format!(
                        "evaluator `{}` is not supported",
                        ev.attr("ftype").unwrap_or_default()
                    )));
                }
                let slope = number(ev, "slope")?;
                let offset = number(ev, "offset")?;
                let lo = kind.value(0).as_f64().unwrap_or(0.0);
                (0..kind.len())
                    .map(|v| slope * (kind.value(v).as_f64().unwrap_or(0.0) - lo) + offset)
                    .collect()
            }
        };
        let max = evals.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let norm = if max > 0.0 { max } else { 1.0 };
        fns.push(ValueFn::Table(evals.iter().map(|e| e / norm).collect()));
    }
    let reservation = root
        .find_all("reservation")
        .first()
        .map(|r| number(r, "value"))
        .transpose()?
        .unwrap_or(0.0);
    let discount = root
        .find_all("discount_factor")
        .first()
        .map(|r| number(r, "value"))
        .transpose()?;
    LinearAdditive::new(space, &ws, &fns, reservation, discount)
}

fn json_error(why: impl std::fmt::Display) -> NegotiateError {
    NegotiateError::Genius {
        why: format!("geniusweb: {why}"),
    }
}

/// Reads a GeniusWeb `LinearAdditiveUtilitySpace` JSON profile with its embedded domain.
/// The reservation value is the utility of `reservationBid`, 0 without one.
pub fn parse_geniusweb_profile(
    json: &str,
) -> Result<(OutcomeSpace, LinearAdditive), NegotiateError> {
    let doc: Json = serde_json::from_str(json).map_err(json_error)?;
    let las = doc
        .get("LinearAdditiveUtilitySpace")
        .ok_or_else(|| json_error("no `LinearAdditiveUtilitySpace`"))?;
    let domain = las
        .get("domain")
        .and_then(|d| d.get("issuesValues"))
        .and_then(Json::as_object)
        .ok_or_else(|| json_error("no domain"))?;
    let mut issues = Vec::new();
    for (name, spec) in domain {
        let kind = if let Some(values) = spec.get("values").and_then(Json::as_array) {
            IssueKind::Unordered {
                values: values
                    .iter()
                    .map(|v| {
                        v.as_str()
                            .map(str::to_owned)
                            .unwrap_or_else(|| v.to_string())
                    })
                    .collect(),
            }
        } else if let Some(range) = spec.get("range").and_then(Json::as_array) {
            let num = |i: usize| -> Result<Decimal, NegotiateError> {
                let v = range
                    .get(i)
                    .ok_or_else(|| json_error(format!("issue `{name}` range is short")))?;
                let s = v
                    .as_str()
                    .map(str::to_owned)
                    .unwrap_or_else(|| v.to_string());
                s.parse::<Decimal>()
                    .map_err(|_| json_error(format!("`{s}` is not a number")))
            };
            IssueKind::Continuous {
                lo: num(0)?,
                hi: num(1)?,
                tick: num(2)?,
            }
        } else {
            return Err(json_error(format!(
                "issue `{name}` has neither values nor range"
            )));
        };
        issues.push(Issue {
            name: name.clone(),
            kind,
        });
    }
    let space = OutcomeSpace::new(issues)?;
    let utils = las
        .get("issueUtilities")
        .ok_or_else(|| json_error("no `issueUtilities`"))?;
    let weights = las
        .get("issueWeights")
        .ok_or_else(|| json_error("no `issueWeights`"))?;
    let mut ws = Vec::new();
    let mut fns = Vec::new();
    for issue in space.issues() {
        ws.push(
            weights
                .get(&issue.name)
                .and_then(Json::as_f64)
                .ok_or_else(|| json_error(format!("no weight for `{}`", issue.name)))?,
        );
        let u = utils
            .get(&issue.name)
            .ok_or_else(|| json_error(format!("no utilities for `{}`", issue.name)))?;
        let f = if let Some(d) = u.get("discreteutils").and_then(|d| d.get("valueUtilities")) {
            let IssueKind::Unordered { values } = &issue.kind else {
                return Err(json_error(format!(
                    "issue `{}` is numeric but has discrete utilities",
                    issue.name
                )));
            };
            ValueFn::Table(
                values
                    .iter()
                    .map(|v| d.get(v).and_then(Json::as_f64).unwrap_or(0.0))
                    .collect(),
            )
        } else if let Some(n) = u.get("numberutils") {
            let g = |k: &str| {
                n.get(k)
                    .and_then(|v| {
                        v.as_f64()
                            .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
                    })
                    .ok_or_else(|| {
                        json_error(format!("numberutils of `{}` has no `{k}`", issue.name))
                    })
            };
            ValueFn::Piecewise(vec![
                (g("lowValue")?, g("lowUtility")?),
                (g("highValue")?, g("highUtility")?),
            ])
        } else {
            return Err(json_error(format!(
                "utilities of `{}` are neither discrete nor numeric",
                issue.name
            )));
        };
        fns.push(f);
    }
    let mut profile = LinearAdditive::new(&space, &ws, &fns, 0.0, None)?;
    if let Some(bid) = las.get("reservationBid").and_then(|b| b.get("issuevalues")) {
        let outcome = space
            .issues()
            .iter()
            .map(|issue| {
                let v = bid
                    .get(&issue.name)
                    .ok_or_else(|| json_error(format!("reservation bid lacks `{}`", issue.name)))?;
                (0..issue.kind.len())
                    .find(|&i| match (issue.kind.value(i), v) {
                        (crate::space::Value::Label(l), Json::String(s)) => &l == s,
                        (x, v) => x.as_f64().is_some() && x.as_f64() == v.as_f64(),
                    })
                    .ok_or_else(|| {
                        json_error(format!(
                            "reservation bid value of `{}` is not in the domain",
                            issue.name
                        ))
                    })
            })
            .collect::<Result<Vec<u32>, _>>()?;
        let r = profile.utility(&space, &outcome);
        profile = LinearAdditive::new(&space, &ws, &fns, r, None)?;
    }
    Ok((space, profile))
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOMAIN: &str = r#"<negotiation_template><utility_space number_of_issues="2">
<objective index="0" name="root" type="objective">
  <issue index="1" name="Colour" type="discrete" vtype="discrete">
    <item index="1" value="red"/><item index="2" value="blue"></item>
  </issue>
  <issue index="2" name="Days" type="integer" vtype="integer" lowerbound="10" upperbound="12"/>
</objective></utility_space></negotiation_template>"#;

    const PROFILE: &str = r#"<utility_space><objective index="0" name="root">
  <issue index="1" name="Colour" type="discrete">
    <item index="1" value="red" evaluation="2"/><item index="2" value="blue" evaluation="4"/>
  </issue>
  <issue index="2" name="Days" type="integer" lowerbound="10" upperbound="12">
    <evaluator ftype="linear" slope="-0.25" offset="1"/>
  </issue>
  <weight index="1" value="0.6"/><weight index="2" value="0.4"/>
</objective><reservation value="0.3"/><discount_factor value="0.9"/></utility_space>"#;

    fn check(outcome: &[u32], expected: f64) {
        let space = parse_domain(DOMAIN).unwrap();
        let u = parse_profile(PROFILE, &space).unwrap();
        assert!(
            (u.utility(&space, outcome) - expected).abs() < 1e-12,
            "{outcome:?}"
        );
        assert_eq!(u.reservation(), 0.3);
        assert_eq!(u.discount(), Some(0.9));
    }

    #[test]
    fn genius_xml() {
        check(&[1, 0], 1.0);
        check(&[0, 0], 0.7);
        check(&[0, 2], 0.3 + 0.4 * 0.5);
        assert!(is_domain(DOMAIN));
        assert!(!is_domain(PROFILE));
        assert_eq!(parse_domain(DOMAIN).unwrap().cardinality(), 6);
    }

    #[test]
    fn genius_errors() {
        let space = parse_domain(DOMAIN).unwrap();
        assert!(
            parse_profile(
                "<utility_space><issue name=\"Colour\"/></utility_space>",
                &space
            )
            .is_err()
        );
        assert!(parse_domain("<a><b></a>").is_err());
    }

    #[test]
    fn geniusweb_json() {
        let json = r#"{"LinearAdditiveUtilitySpace":{
          "issueUtilities":{
            "fruit":{"discreteutils":{"valueUtilities":{"apple":1.0,"pear":0.25}}},
            "qty":{"numberutils":{"lowValue":0,"lowUtility":0.0,"highValue":10,"highUtility":1.0}}},
          "issueWeights":{"fruit":0.5,"qty":0.5},
          "domain":{"name":"d","issuesValues":{"fruit":{"values":["apple","pear"]},"qty":{"range":["0","10","5"]}}},
          "name":"p","reservationBid":{"issuevalues":{"fruit":"pear","qty":5}}}}"#;
        let (space, u) = parse_geniusweb_profile(json).unwrap();
        assert_eq!(space.cardinality(), 6);
        assert!((u.utility(&space, &[0, 2]) - 1.0).abs() < 1e-12);
        assert!((u.reservation() - (0.125 + 0.25)).abs() < 1e-12);
    }
}
