//! The impact graph as server-rendered SVG: a layered layout computed here
//! (layer = distance from the CI asked about), so the page needs no
//! JavaScript library and no CDN, and works with scripts off.

use std::collections::HashMap;

use varde_store::cmdb::Impact;

const COL: i64 = 230;
const ROW: i64 = 56;
const BOX_W: i64 = 190;
const BOX_H: i64 = 36;
const PAD: i64 = 16;

fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

fn clip(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(n - 1).collect::<String>())
    }
}

/// Positions: each layer a column; within a layer, nodes ordered by their
/// parent's row (then name), which keeps tree edges from crossing.
pub fn layout(impact: &Impact, start_name: &str) -> (HashMap<i64, (i64, i64)>, i64, i64) {
    let mut layers: Vec<Vec<(i64, Option<i64>, String)>> = vec![vec![(impact.ci_id, None, start_name.to_string())]];
    for n in &impact.nodes {
        let d = n.depth as usize;
        while layers.len() <= d {
            layers.push(Vec::new());
        }
        layers[d].push((n.id, n.parent, n.name.clone()));
    }
    let mut pos: HashMap<i64, (i64, i64)> = HashMap::new();
    let mut rows = 0;
    for (x, layer) in layers.iter_mut().enumerate() {
        layer.sort_by(|a, b| {
            let pa = a.1.and_then(|p| pos.get(&p)).map(|p| p.1).unwrap_or(0);
            let pb = b.1.and_then(|p| pos.get(&p)).map(|p| p.1).unwrap_or(0);
            (pa, &a.2, a.0).cmp(&(pb, &b.2, b.0))
        });
        for (y, (id, _, _)) in layer.iter().enumerate() {
            pos.insert(*id, (x as i64, y as i64));
        }
        rows = rows.max(layer.len() as i64);
    }
    (pos, layers.len() as i64, rows)
}

/// The SVG. Up: arrows point from each dependent to what it depends on
/// (towards the CI asked about); down: from the CI outwards.
pub fn svg(impact: &Impact, start_name: &str, services: &[i64], label: &str) -> String {
    let (pos, cols, rows) = layout(impact, start_name);
    let width = PAD * 2 + (cols - 1).max(0) * COL + BOX_W;
    let height = PAD * 2 + (rows - 1).max(0) * ROW + BOX_H;
    let at = |id: i64| pos.get(&id).map(|(x, y)| (PAD + x * COL, PAD + y * ROW));
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"impact-graph\" role=\"img\" aria-label=\"{}\" \
         width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\">\
         <defs><marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"9\" refY=\"5\" markerWidth=\"7\" markerHeight=\"7\" \
         orient=\"auto-start-reverse\"><path d=\"M 0 0 L 10 5 L 0 10 z\" fill=\"#444\"/></marker></defs>",
        esc(label)
    );
    let up = impact.direction == "up";
    for n in &impact.nodes {
        let (Some(child), Some(parent)) = (at(n.id), n.parent.and_then(at)) else { continue };
        // Edge between the parent's right side and the child's left side.
        let (px, py) = (parent.0 + BOX_W, parent.1 + BOX_H / 2);
        let (cx, cy) = (child.0, child.1 + BOX_H / 2);
        let (x1, y1, x2, y2) = if up { (cx, cy, px, py) } else { (px, py, cx, cy) };
        s.push_str(&format!(
            "<line x1=\"{x1}\" y1=\"{y1}\" x2=\"{x2}\" y2=\"{y2}\" stroke=\"#444\" stroke-width=\"1.5\" marker-end=\"url(#arrow)\"/>"
        ));
    }
    let mut draw = |id: i64, name: &str, kind: &str| {
        let Some((x, y)) = at(id) else { return };
        let (fill, stroke) = match kind {
            "start" => ("#fde2e1", "#a4161a"),
            "service" => ("#e3effd", "#0b4f9c"),
            _ => ("#f4f4f4", "#555"),
        };
        s.push_str(&format!(
            "<a href=\"/cmdb/cis/{id}\"><g class=\"node {kind}\" data-ci=\"{id}\"><title>{}</title>\
             <rect x=\"{x}\" y=\"{y}\" width=\"{BOX_W}\" height=\"{BOX_H}\" rx=\"6\" fill=\"{fill}\" stroke=\"{stroke}\"/>\
             <text x=\"{}\" y=\"{}\" font-size=\"13\" font-family=\"sans-serif\" fill=\"#111\">{}</text></g></a>",
            esc(name),
            x + 10,
            y + 23,
            esc(&clip(name, 26))
        ));
    };
    draw(impact.ci_id, start_name, "start");
    for n in &impact.nodes {
        draw(n.id, &n.name, if services.contains(&n.id) { "service" } else { "ci" });
    }
    s.push_str("</svg>");
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use varde_store::cmdb::ImpactNode;

    fn node(id: i64, depth: u32, parent: i64, name: &str) -> ImpactNode {
        ImpactNode { id, name: name.into(), class_id: 1, depth, parent: Some(parent) }
    }

    #[test]
    fn layers_are_columns_and_names_are_escaped() {
        let impact = Impact {
            ci_id: 1,
            direction: "up".into(),
            depth: 10,
            reached: 3,
            truncated: false,
            services: vec![],
            nodes: vec![node(2, 1, 1, "b"), node(3, 1, 1, "a"), node(4, 2, 3, "<svc>")],
            organisation_ids: vec![],
            user_ids: vec![],
        };
        let (pos, cols, rows) = layout(&impact, "start");
        assert_eq!((cols, rows), (3, 2));
        assert_eq!(pos[&1], (0, 0));
        assert_eq!(pos[&3], (1, 0), "sorted by name within a layer");
        assert_eq!(pos[&4], (2, 0));
        let s = svg(&impact, "start", &[4], "graph");
        assert!(s.contains("&lt;svc&gt;") && !s.contains("<svc>"));
        assert_eq!(s.matches("<line").count(), 3);
        assert!(s.contains("class=\"node service\" data-ci=\"4\""));
    }
}
