// Renders /openapi.json as a readable reference, bundled (no CDN, works offline).
"use strict";

function el(tag, cls, text) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text != null) node.textContent = text;
  return node;
}

function schemaName(schema) {
  if (!schema) return "";
  if (schema.$ref) return schema.$ref.split("/").pop();
  if (schema.type === "array") return `${schemaName(schema.items)}[]`;
  if (schema.anyOf) return schema.anyOf.map(schemaName).filter(Boolean).join(" | ");
  return schema.type || "";
}

async function main() {
  const spec = await (await fetch("/openapi.json")).json();
  const root = document.getElementById("api");
  root.replaceChildren();
  const intro = el("section", "api-intro");
  for (const para of (spec.info.description || "").split("\n\n")) intro.append(el("p", null, para.replace(/\*\*/g, "").replace(/`/g, "")));
  root.append(el("h1", null, `${spec.info.title} ${spec.info.version}`), intro);
  const byTag = {};
  for (const [path, ops] of Object.entries(spec.paths)) {
    for (const [method, op] of Object.entries(ops)) {
      const tag = (op.tags || ["other"])[0];
      (byTag[tag] = byTag[tag] || []).push({ path, method, op });
    }
  }
  for (const [tag, ops] of Object.entries(byTag)) {
    root.append(el("h2", null, tag));
    for (const { path, method, op } of ops) {
      const box = el("details", "api-op");
      const summary = el("summary");
      summary.append(el("span", `verb ${method}`, method.toUpperCase()), el("code", null, path),
                     el("span", "api-sum", op.summary || ""));
      box.append(summary);
      const params = op.parameters || [];
      if (params.length) {
        const table = el("table", "api-params");
        for (const p of params) {
          const row = el("tr");
          row.append(el("td", null, `${p.name}${p.required ? " *" : ""}`), el("td", null, p.in),
                     el("td", null, schemaName(p.schema)), el("td", null, (p.description || p.schema?.description || "")));
          table.append(row);
        }
        box.append(table);
      }
      const body = op.requestBody && Object.entries(op.requestBody.content || {})[0];
      if (body) box.append(el("p", "api-body", `body (${body[0]}): ${schemaName(body[1].schema)}`));
      const codes = Object.keys(op.responses || {}).join(", ");
      box.append(el("p", "api-body", `responses: ${codes}`));
      root.append(box);
    }
  }
}

main().catch((err) => { document.getElementById("api").textContent = `Cannot load /openapi.json: ${err}`; });
