// Export links: every click fetches its own file, so clicks in quick succession are all
// answered (a plain link navigation would let a second click cancel the first).
document.addEventListener("click", function (e) {
  const a = e.target.closest("a.export");
  if (!a || !a.getAttribute("href")) return;
  e.preventDefault();
  a.classList.add("busy");
  fetch(a.href)
    .then(function (r) {
      if (!r.ok) return r.text().then(function (t) { throw new Error(t); });
      const m = /filename="([^"]+)"/.exec(r.headers.get("Content-Disposition") || "");
      return r.blob().then(function (b) { return [b, m ? m[1] : "figure"]; });
    })
    .then(function ([blob, name]) {
      const url = URL.createObjectURL(blob);
      const t = document.createElement("a");
      t.href = url;
      t.download = name;
      document.body.appendChild(t);
      t.click();
      t.remove();
      setTimeout(function () { URL.revokeObjectURL(url); }, 60000);
    })
    .catch(function (err) { a.title = "export failed: " + err.message; })
    .finally(function () { a.classList.remove("busy"); });
});
