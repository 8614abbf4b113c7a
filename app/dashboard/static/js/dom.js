// Building the page from data. Server data only ever becomes text (textContent, text nodes): never markup.

/** An element: el("td", {class: "num", text: 3}, child, "text"...); `on` adds listeners, `attrs` sets attributes. */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "text") node.textContent = String(value);
    else if (key === "class") node.className = value;
    else if (key === "on") for (const [type, listener] of Object.entries(value)) node.addEventListener(type, listener);
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key === "attrs") for (const [name, v] of Object.entries(value)) node.setAttribute(name, String(v));
    else node[key] = value; // properties such as title, type, disabled, value, selected
  }
  node.append(...children.filter((c) => c !== null && c !== undefined && c !== false).map(toNode));
  return node;
}

function toNode(child) {
  return child instanceof Node ? child : document.createTextNode(String(child));
}

/** Replace a node's children. */
export function fill(node, ...children) {
  node.replaceChildren(...children.filter((c) => c !== null && c !== undefined && c !== false).map(toNode));
  return node;
}

/** Call `fn` once things have been quiet for `ms` milliseconds. */
export function debounce(fn, ms) {
  let timer = null;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}

let toastTimer = null;
/** A short message at the bottom of the screen; `bad` for failures. */
export function toast(message, bad = false) {
  const box = document.getElementById("toast");
  box.textContent = message;
  box.classList.toggle("bad", bad);
  box.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => (box.hidden = true), bad ? 6000 : 3000);
}
