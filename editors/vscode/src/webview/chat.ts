// The chat transcript's script, run inside the webview (bundled by esbuild with markdown-it
// and highlight.js core): turns, code highlighted, tool calls and thinking folded, pages
// loaded on scroll, new messages followed while the reader is at the bottom.
import hljs from "highlight.js/lib/core";
import bash from "highlight.js/lib/languages/bash";
import diff from "highlight.js/lib/languages/diff";
import go from "highlight.js/lib/languages/go";
import javascript from "highlight.js/lib/languages/javascript";
import json from "highlight.js/lib/languages/json";
import python from "highlight.js/lib/languages/python";
import rust from "highlight.js/lib/languages/rust";
import typescript from "highlight.js/lib/languages/typescript";
import xml from "highlight.js/lib/languages/xml";
import yaml from "highlight.js/lib/languages/yaml";
import MarkdownIt from "markdown-it";
import type { FromWebview, Page, ToWebview } from "../chatModel";
import { argumentsText, author, callSubject, copyText, isFailure, sizeLabel, thinkingOf } from "../chatModel";
import type { Message, ToolCall } from "../protocol";
import { localTime, relativeTime } from "../time";

declare function acquireVsCodeApi(): { postMessage(message: FromWebview): void };

const vscode = acquireVsCodeApi();
for (const [name, language] of Object.entries({ bash, diff, go, javascript, json, python, rust, typescript, xml, yaml })) {
  hljs.registerLanguage(name, language);
}
hljs.registerAliases(["sh", "shell", "zsh", "console"], { languageName: "bash" });
hljs.registerAliases(["js", "jsx"], { languageName: "javascript" });
hljs.registerAliases(["ts", "tsx"], { languageName: "typescript" });
hljs.registerAliases(["py"], { languageName: "python" });
hljs.registerAliases(["html", "svg"], { languageName: "xml" });

function highlighted(code: string, language?: string): string {
  if (language && hljs.getLanguage(language)) {
    return hljs.highlight(code, { language, ignoreIllegals: true }).value;
  }
  return markdown.utils.escapeHtml(code);
}

// No raw HTML from a transcript reaches the page: markdown-it escapes it.
const markdown = new MarkdownIt({ html: false, linkify: true, highlight: (code, language) => highlighted(code, language) });

const log = document.getElementById("log") as HTMLElement;
const header = document.getElementById("header") as HTMLElement;
const scroller = document.scrollingElement as HTMLElement;
let following = true; // the view shows the session's newest message: new ones are appended
let loading = false;
let compactionSummary: string | undefined;

function element<K extends keyof HTMLElementTagNameMap>(tag: K, className?: string, text?: string): HTMLElementTagNameMap[K] {
  const made = document.createElement(tag);
  if (className) {
    made.className = className;
  }
  if (text !== undefined) {
    made.textContent = text;
  }
  return made;
}

function button(label: string, action: () => void, title?: string): HTMLButtonElement {
  const made = element("button", undefined, label);
  made.title = title ?? label;
  made.addEventListener("click", action);
  return made;
}

function folded(className: string, summary: HTMLElement[], body: HTMLElement[]): HTMLDetailsElement {
  const details = element("details", className);
  const line = element("summary");
  line.append(...summary);
  details.append(line, ...body);
  return details;
}

function codeBlock(text: string, language?: string): HTMLElement {
  const pre = element("pre");
  const code = element("code", "hljs");
  code.innerHTML = highlighted(text, language);
  pre.append(code);
  return pre;
}

function prose(text: string): HTMLElement {
  const body = element("div", "prose");
  body.innerHTML = markdown.render(text);
  return body;
}

/** A tool call, folded: its name, what it was about, then its result's status and size. */
function toolCall(call: ToolCall): HTMLDetailsElement {
  const status = element("span", "status", "no result yet");
  const details = folded(
    "tool",
    [element("span", "tool-name", call.name), element("span", "subject", callSubject(call)), status],
    [element("div", "label", "Arguments"), codeBlock(argumentsText(call), "json")],
  );
  details.dataset.call = call.id;
  return details;
}

/** Put a tool's result into its call's fold, and say whether it failed and how big it is. */
function attachResult(details: HTMLDetailsElement, result: Message): void {
  const status = details.querySelector(".status") as HTMLElement;
  const failed = isFailure(result);
  status.textContent = `${failed ? "error" : "done"} · ${sizeLabel(result.content ?? "")}`;
  status.classList.toggle("error", failed);
  details.classList.toggle("failed", failed);
  details.append(element("div", "label", "Result"), codeBlock(result.content ?? ""));
}

function timeOf(message: Message): HTMLTimeElement {
  const time = element("time", undefined, relativeTime(message.createdAt));
  time.dateTime = message.createdAt;
  time.title = localTime(message.createdAt);
  return time;
}

function actions(message: Message): HTMLElement {
  const bar = element("span", "actions");
  bar.append(
    button("Copy", () => vscode.postMessage({ type: "copy", text: copyText(message) })),
    button("Fork here", () => vscode.postMessage({ type: "fork", messageId: message.id }), "A new session holding the messages up to this one"),
  );
  return bar;
}

function article(message: Message): HTMLElement {
  const turn = element("article", `turn ${message.role}`);
  turn.id = `m${message.index}`;
  turn.dataset.index = String(message.index);
  turn.classList.toggle("compacted", message.compacted);
  turn.classList.toggle("failed", isFailure(message) && message.role !== "tool");
  const meta = element("div", "meta");
  meta.append(element("span", "who", author(message)), timeOf(message));
  if (message.compacted) {
    meta.append(element("span", "badge", "compacted"));
  }
  meta.append(actions(message));
  turn.append(meta);
  const thinking = thinkingOf(message);
  if (thinking) {
    turn.append(folded("thinking", [element("span", undefined, "Thinking")], [prose(thinking)]));
  }
  if (message.role === "tool") {
    // A result whose call is not on the page (an earlier page not loaded yet): folded alone.
    const alone = folded("tool", [element("span", "tool-name", "Tool result"), element("span", "status")], []);
    alone.dataset.resultFor = message.toolCallId ?? "";
    attachResult(alone, message);
    turn.append(alone);
    return turn;
  }
  if (message.content) {
    turn.append(message.role === "system" ? folded("system", [element("span", undefined, "System prompt")], [prose(message.content)]) : prose(message.content));
  }
  if (message.codeExcerpt) {
    turn.append(codeBlock(message.codeExcerpt));
  }
  for (const call of message.toolCalls ?? []) {
    turn.append(toolCall(call));
  }
  return turn;
}

/** The messages as turns, a tool's result inside its call's fold where the call is shown. */
function render(messages: Message[]): DocumentFragment {
  const fragment = document.createDocumentFragment();
  for (const message of messages) {
    if (document.getElementById(`m${message.index}`)) {
      continue; // a live message that a page brought too
    }
    const call = message.role === "tool" && message.toolCallId ? findCall(fragment, message.toolCallId) : undefined;
    if (call) {
      attachResult(call, message);
      const turn = element("article", "turn tool attached");
      turn.id = `m${message.index}`;
      turn.dataset.index = String(message.index);
      fragment.append(turn); // keeps its index, so pages and scrolling to it still work
      continue;
    }
    fragment.append(article(message));
  }
  adoptResults(fragment);
  return fragment;
}

function findCall(fragment: DocumentFragment, id: string): HTMLDetailsElement | undefined {
  const selector = `details.tool[data-call="${CSS.escape(id)}"]`;
  return (fragment.querySelector(selector) ?? log.querySelector(selector) ?? undefined) as HTMLDetailsElement | undefined;
}

/** Results already shown alone, whose calls an earlier page has just brought: moved in. */
function adoptResults(fragment: DocumentFragment): void {
  for (const call of fragment.querySelectorAll<HTMLDetailsElement>("details.tool[data-call]")) {
    const alone = log.querySelector<HTMLDetailsElement>(`details.tool[data-result-for="${CSS.escape(call.dataset.call ?? "")}"]`);
    if (alone) {
      call.querySelector(".status")?.replaceWith(alone.querySelector(".status") as HTMLElement);
      call.classList.toggle("failed", alone.classList.contains("failed"));
      call.append(...[...alone.children].filter((child) => child.tagName !== "SUMMARY"));
      alone.closest("article")?.classList.add("attached");
      alone.remove();
    }
  }
}

/** The compaction summary, after the last message it summarised. */
function markCompaction(): void {
  document.querySelector(".compaction")?.remove();
  const compacted = [...log.querySelectorAll("article.compacted")].pop();
  if (compactionSummary && compacted) {
    const mark = folded("compaction", [element("span", undefined, "Compaction summary: the messages above were summarised")], [prose(compactionSummary)]);
    compacted.after(mark);
  }
}

const atBottom = () => scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 40;
const firstIndex = () => Number((log.querySelector("article") as HTMLElement | null)?.dataset.index ?? 0);
const lastIndex = () => Number(([...log.querySelectorAll("article")].pop() as HTMLElement | undefined)?.dataset.index ?? -1);

function showPage(page: Page): void {
  loading = false;
  if (page.place === "before") {
    const height = scroller.scrollHeight;
    log.prepend(render(page.messages));
    scroller.scrollTop += scroller.scrollHeight - height; // the reader's place stays put
  } else {
    if (page.place !== "after") {
      log.replaceChildren();
    }
    log.append(render(page.messages));
    following = page.place === "end" || !page.hasMoreAfter;
  }
  markCompaction();
  if (page.place === "end") {
    scroller.scrollTop = scroller.scrollHeight;
  } else if (page.place === "at" && page.target !== undefined) {
    const target = document.getElementById(`m${page.target}`);
    target?.classList.add("target");
    target?.scrollIntoView({ block: "center" });
  }
  document.body.classList.toggle("more-before", firstIndex() > 0);
}

function showLive(messages: Message[]): void {
  if (!following) {
    return; // later pages are loaded on scrolling down, these with them
  }
  const stay = atBottom();
  log.append(render(messages));
  markCompaction();
  if (stay) {
    scroller.scrollTop = scroller.scrollHeight;
  }
}

function showHeader(message: Extract<ToWebview, { type: "header" }>): void {
  const links = element("div", "links");
  const open = (id: string) => () => vscode.postMessage({ type: "open", sessionId: id });
  if (message.parent) {
    links.append(element("span", undefined, "Sub-agent of "), button(message.parent.label, open(message.parent.id)));
  }
  if (message.subagents.length) {
    links.append(element("span", undefined, "Sub-agents: "), ...message.subagents.map((link) => button(link.label, open(link.id))));
  }
  const tools = element("div", "toolbar");
  tools.append(
    button("Open as Markdown", () => vscode.postMessage({ type: "markdown" })),
    button("Export…", () => vscode.postMessage({ type: "export" })),
  );
  const heading = element("div", "heading");
  heading.append(element("h1", undefined, message.title), element("div", "facts", message.facts), links);
  header.replaceChildren(heading, tools);
  compactionSummary = message.compactionSummary;
  markCompaction();
}

window.addEventListener("message", (event: MessageEvent<ToWebview>) => {
  const message = event.data;
  if (message.type === "header") {
    showHeader(message);
  } else if (message.type === "page") {
    showPage(message);
  } else {
    showLive(message.messages);
  }
});

window.addEventListener("scroll", () => {
  if (loading) {
    return;
  }
  if (scroller.scrollTop < 300 && firstIndex() > 0) {
    loading = true;
    vscode.postMessage({ type: "earlier", beforeIndex: firstIndex() });
  } else if (!following && atBottom()) {
    loading = true;
    vscode.postMessage({ type: "later", afterIndex: lastIndex() });
  }
});

// Relative times stay true while the transcript is open.
setInterval(() => {
  for (const time of document.querySelectorAll("time")) {
    time.textContent = relativeTime(time.dateTime);
  }
}, 60_000);

vscode.postMessage({ type: "ready" });
