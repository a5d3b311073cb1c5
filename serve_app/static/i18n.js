// English and Korean text. The server's STOCKRAY_LOCALE (a <meta> in index.html) is the
// default; the switch in the header overrides it for this browser (localStorage).

const TEXT = {
  en: {
    "app.title": "stockray",
    "nav.watchlist": "Watchlist",
    "nav.ops": "Operations",
    "nav.main": "Main",
    "locale.label": "Language",
    "key.title": "Sign in with an API key",
    "key.label": "API key",
    "key.hint": "Create one with `stockray keys create --scope read` (admin to start backfills). It is kept in this tab's session storage only.",
    "key.submit": "Use this key",
    "key.change": "Change key",
    "key.checking": "Checking the key…",
    "err.401": "The API key was refused (401): it is missing, wrong or revoked. Enter a valid key.",
    "err.403": "This key's scope is too small for that (403). Starting a backfill needs an admin key.",
    "err.429": "Too many requests for this key (429). Try again in {s} s.",
    "err.network": "Cannot reach the server. Check that the stack is running; retrying helps once it is back.",
    "err.server": "The server answered {status}: {message}",
    "err.invalid": "The request is not valid:",
    "live.connecting": "Connecting…",
    "live.open": "Live",
    "live.lost": "Connection lost. Reconnecting in {s} s…",
    "live.restart": "The server is restarting. Reconnecting…",
    "live.lagged": "Some live events were skipped; the page was refreshed.",
    "live.closed401": "Live updates stopped: the key was refused (401).",
    "live.closed403": "Live updates stopped: this key may not read (403).",
    "wl.title": "Watchlist",
    "wl.instrument": "Instrument",
    "wl.name": "Name",
    "wl.price": "Last price",
    "wl.change": "Change",
    "wl.sentiment": "Sentiment",
    "wl.rating": "Rating",
    "wl.empty": "No instruments on the watchlist.",
    "wl.caption": "Prices update live; select an instrument for its chart and report.",
    "wl.filter": "Filter by ticker or name",
    "wl.pending": "collecting…",
    "wl.collecting": "{kind}: {done}/{total}",
    "wl.collecting.start": "{kind}…",
    "wl.kind.collect": "Collecting prices and news",
    "wl.kind.backfill": "Backfilling history",
    "wl.kind.analyze": "Analysing news",
    "wl.kind.other": "Running {kind}",
    "chart.open": "O",
    "chart.high": "H",
    "chart.low": "L",
    "chart.close": "C",
    "chart.volume": "Vol",
    "chart.zoom": "Zoom",
    "chart.zoomin": "Zoom in",
    "chart.zoomout": "Zoom out",
    "chart.fit": "Fit",
    "chart.fithint": "Show the whole range",
    "chart.key": "Chart markers",
    "chart.positive": "positive news",
    "chart.negative": "negative news",
    "chart.neutral": "neutral news",
    "chart.pending": "news not analysed yet",
    "chart.filing": "filing",
    "chart.move": "largest move (report)",
    "chart.largest": "Largest move {pct}",
    "chart.panes": "Below the prices: volume, then daily news sentiment (−1 to +1).",
    "chart.sources": "{n} sources",
    "inst.range": "Range",
    "inst.adjust": "Adjustment",
    "inst.adjust.none": "As traded",
    "inst.adjust.splits": "Adjusted for splits",
    "inst.adjust.all": "Adjusted for splits and dividends",
    "inst.actions": "Adjusted for: {list}",
    "inst.split": "{ratio} split on {date}",
    "inst.dividend": "{amount} dividend on {date}",
    "inst.kind": "Chart",
    "inst.candles": "Candles",
    "inst.line": "Line",
    "inst.prices": "Prices",
    "inst.nobars": "No bars in this range yet. Start a backfill on the Operations page.",
    "inst.sentiment": "Sentiment timeline",
    "inst.nosentiment": "No analysed articles in this range.",
    "inst.report": "Latest report",
    "inst.noreport": "No published report yet.",
    "inst.positives": "Positives",
    "inst.concerns": "Concerns",
    "inst.citations": "Citations",
    "inst.facts": "Facts (computed from stored data)",
    "inst.modelrating": "model's rating",
    "inst.disagrees": "differs from ours",
    "inst.dropped": "claims dropped (numbers not in the facts)",
    "inst.method": "Method",
    "inst.published": "Published",
    "inst.news": "News",
    "inst.nonews": "No articles yet.",
    "inst.disclosures": "Disclosures",
    "inst.nodisclosures": "No disclosures yet.",
    "inst.more": "Load more",
    "inst.back": "Back to the watchlist",
    "inst.chartlabel": "{id} prices from {from} to {to}: low {low}, high {high}, last {last}",
    "ops.title": "Operations",
    "ops.providers": "Providers",
    "ops.provider": "Provider",
    "ops.enabled": "Enabled",
    "ops.plan": "plan {plan}",
    "ops.quota": "daily quota spent until {until}",
    "ops.circuit": "Circuit",
    "ops.budget": "Budget left",
    "ops.lasterror": "Last error",
    "ops.lastsuccess": "Last success",
    "ops.disabled": "off: {reason}",
    "ops.jobs": "Job runs",
    "ops.kind": "Kind",
    "ops.status": "Status",
    "ops.started": "Started",
    "ops.progress": "Progress",
    "ops.error": "Error",
    "ops.nojobs": "No job runs yet.",
    "ops.spend": "LLM spend",
    "ops.today": "Today: {spent} of {budget} spent ({left} left)",
    "ops.day": "Day",
    "ops.model": "Model",
    "ops.calls": "Calls",
    "ops.cost": "Cost",
    "ops.nospend": "No LLM spend in the last 30 days.",
    "ops.reports": "Weekly reports",
    "ops.report": "Report",
    "ops.week": "Days (UTC)",
    "ops.written": "Written",
    "ops.size": "Size",
    "ops.noreports": "No weekly report yet (jobs.weekly_report runs on Mondays).",
    "ops.reportsadmin": "Weekly reports need an admin key.",
    "bf.title": "Start a backfill",
    "bf.tickers": "Instruments",
    "bf.start": "Start date",
    "bf.end": "End date",
    "bf.interval": "Interval",
    "bf.capabilities": "What to fetch",
    "bf.submit": "Start backfill",
    "bf.admin": "Needs an admin key.",
    "bf.submitted": "Submitted job {id}",
    "bf.status": "Status: {status}",
    "bf.chunks": "{done} of {total} chunks",
    "bf.done": "Done: {rows} rows saved.",
    "bf.failed": "The backfill failed: {message}",
    "bf.pick": "Pick at least one instrument and one kind of data.",
    "cap.prices": "Prices",
    "cap.news": "News",
    "cap.disclosures": "Disclosures",
    "yes": "yes",
    "no": "no",
    "loading": "Loading…",
    "dismiss": "Dismiss",
    "notfound": "No such page.",
  },
  ko: {
    "app.title": "stockray",
    "nav.watchlist": "관심 종목",
    "nav.ops": "운영",
    "nav.main": "주 메뉴",
    "locale.label": "언어",
    "key.title": "API 키로 로그인",
    "key.label": "API 키",
    "key.hint": "`stockray keys create --scope read`로 만드세요 (백필 시작에는 admin 키). 키는 이 탭의 세션 저장소에만 보관됩니다.",
    "key.submit": "이 키 사용",
    "key.change": "키 변경",
    "key.checking": "키를 확인하는 중…",
    "err.401": "API 키가 거부되었습니다 (401): 없거나 틀렸거나 폐기된 키입니다. 올바른 키를 입력하세요.",
    "err.403": "이 키의 권한으로는 할 수 없습니다 (403). 백필 시작에는 admin 키가 필요합니다.",
    "err.429": "이 키의 요청이 너무 많습니다 (429). {s}초 후에 다시 시도하세요.",
    "err.network": "서버에 연결할 수 없습니다. 스택이 실행 중인지 확인하세요. 복구되면 다시 시도하면 됩니다.",
    "err.server": "서버 응답 {status}: {message}",
    "err.invalid": "요청이 올바르지 않습니다:",
    "live.connecting": "연결 중…",
    "live.open": "실시간",
    "live.lost": "연결이 끊겼습니다. {s}초 후 다시 연결합니다…",
    "live.restart": "서버가 재시작 중입니다. 다시 연결합니다…",
    "live.lagged": "일부 실시간 이벤트를 건너뛰어 화면을 새로 고쳤습니다.",
    "live.closed401": "실시간 업데이트 중지: 키가 거부되었습니다 (401).",
    "live.closed403": "실시간 업데이트 중지: 이 키는 읽기 권한이 없습니다 (403).",
    "wl.title": "관심 종목",
    "wl.instrument": "종목",
    "wl.name": "이름",
    "wl.price": "현재가",
    "wl.change": "등락",
    "wl.sentiment": "감성",
    "wl.rating": "등급",
    "wl.empty": "관심 종목이 없습니다.",
    "wl.caption": "가격은 실시간으로 갱신됩니다. 종목을 선택하면 차트와 리포트를 봅니다.",
    "wl.filter": "티커나 이름으로 찾기",
    "wl.pending": "수집 중…",
    "wl.collecting": "{kind}: {done}/{total}",
    "wl.collecting.start": "{kind}…",
    "wl.kind.collect": "가격과 뉴스 수집 중",
    "wl.kind.backfill": "과거 데이터 수집 중",
    "wl.kind.analyze": "뉴스 분석 중",
    "wl.kind.other": "{kind} 실행 중",
    "chart.open": "시",
    "chart.high": "고",
    "chart.low": "저",
    "chart.close": "종",
    "chart.volume": "거래량",
    "chart.zoom": "확대/축소",
    "chart.zoomin": "확대",
    "chart.zoomout": "축소",
    "chart.fit": "전체",
    "chart.fithint": "전체 기간 보기",
    "chart.key": "차트 표시",
    "chart.positive": "긍정 뉴스",
    "chart.negative": "부정 뉴스",
    "chart.neutral": "중립 뉴스",
    "chart.pending": "분석 전 뉴스",
    "chart.filing": "공시",
    "chart.move": "최대 변동일 (리포트)",
    "chart.largest": "최대 변동 {pct}",
    "chart.panes": "가격 아래: 거래량, 그 아래 일별 뉴스 감성 (−1 ~ +1).",
    "chart.sources": "출처 {n}곳",
    "inst.range": "기간",
    "inst.adjust": "주가 기준",
    "inst.adjust.none": "체결가 그대로",
    "inst.adjust.splits": "분할 반영 수정 주가",
    "inst.adjust.all": "분할·배당 반영 수정 주가",
    "inst.actions": "반영된 권리 변동: {list}",
    "inst.split": "{date} 주식 분할 {ratio}",
    "inst.dividend": "{date} 배당 {amount}",
    "inst.kind": "차트",
    "inst.candles": "캔들",
    "inst.line": "선",
    "inst.prices": "가격",
    "inst.nobars": "이 기간의 시세가 아직 없습니다. 운영 화면에서 백필을 시작하세요.",
    "inst.sentiment": "감성 추이",
    "inst.nosentiment": "이 기간에 분석된 기사가 없습니다.",
    "inst.report": "최신 리포트",
    "inst.noreport": "아직 발행된 리포트가 없습니다.",
    "inst.positives": "긍정 요인",
    "inst.concerns": "우려 요인",
    "inst.citations": "인용",
    "inst.facts": "근거 사실 (저장된 데이터로 계산)",
    "inst.modelrating": "모델 의견",
    "inst.disagrees": "당사 의견과 다름",
    "inst.dropped": "제외된 주장 (사실과 맞지 않는 수치)",
    "inst.method": "방법",
    "inst.published": "발행",
    "inst.news": "뉴스",
    "inst.nonews": "아직 기사가 없습니다.",
    "inst.disclosures": "공시",
    "inst.nodisclosures": "아직 공시가 없습니다.",
    "inst.more": "더 보기",
    "inst.back": "관심 종목으로 돌아가기",
    "inst.chartlabel": "{id} 가격 {from} ~ {to}: 최저 {low}, 최고 {high}, 마지막 {last}",
    "ops.title": "운영",
    "ops.providers": "데이터 제공자",
    "ops.provider": "제공자",
    "ops.enabled": "사용",
    "ops.plan": "요금제 {plan}",
    "ops.quota": "일일 한도 소진, {until}까지",
    "ops.circuit": "회로 상태",
    "ops.budget": "남은 한도",
    "ops.lasterror": "마지막 오류",
    "ops.lastsuccess": "마지막 성공",
    "ops.disabled": "꺼짐: {reason}",
    "ops.jobs": "작업 실행",
    "ops.kind": "종류",
    "ops.status": "상태",
    "ops.started": "시작",
    "ops.progress": "진행",
    "ops.error": "오류",
    "ops.nojobs": "아직 작업 실행이 없습니다.",
    "ops.spend": "LLM 비용",
    "ops.today": "오늘: 예산 {budget} 중 {spent} 사용 ({left} 남음)",
    "ops.day": "날짜",
    "ops.model": "모델",
    "ops.calls": "호출",
    "ops.cost": "비용",
    "ops.nospend": "최근 30일간 LLM 비용이 없습니다.",
    "ops.reports": "주간 리포트",
    "ops.report": "리포트",
    "ops.week": "기간 (UTC)",
    "ops.written": "작성",
    "ops.size": "크기",
    "ops.noreports": "아직 주간 리포트가 없습니다 (jobs.weekly_report는 매주 월요일 실행).",
    "ops.reportsadmin": "주간 리포트는 관리자 키가 필요합니다.",
    "bf.title": "백필 시작",
    "bf.tickers": "종목",
    "bf.start": "시작일",
    "bf.end": "종료일",
    "bf.interval": "간격",
    "bf.capabilities": "가져올 데이터",
    "bf.submit": "백필 시작",
    "bf.admin": "admin 키가 필요합니다.",
    "bf.submitted": "작업 {id} 제출됨",
    "bf.status": "상태: {status}",
    "bf.chunks": "청크 {total}개 중 {done}개",
    "bf.done": "완료: {rows}행 저장.",
    "bf.failed": "백필 실패: {message}",
    "bf.pick": "종목과 데이터 종류를 하나 이상 고르세요.",
    "cap.prices": "시세",
    "cap.news": "뉴스",
    "cap.disclosures": "공시",
    "yes": "예",
    "no": "아니오",
    "loading": "불러오는 중…",
    "dismiss": "닫기",
    "notfound": "없는 페이지입니다.",
  },
};

export const LOCALES = ["en", "ko"];
const STORE = "stockray.locale";
let current = initial();

function initial() {
  const chosen = localStorage.getItem(STORE);
  if (LOCALES.includes(chosen)) return chosen;
  const meta = document.querySelector('meta[name="stockray-locale"]')?.content;
  return LOCALES.includes(meta) ? meta : "en";
}

/** The locale in use: "en" or "ko". */
export function locale() {
  return current;
}

/** Switch the locale and remember it in this browser. */
export function setLocale(next) {
  if (!LOCALES.includes(next)) return;
  current = next;
  localStorage.setItem(STORE, next);
  document.documentElement.lang = next;
}

/** The text for `key` in the current locale, `{name}` filled from `vars`. */
export function t(key, vars = {}) {
  const text = TEXT[current][key] ?? TEXT.en[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => (name in vars ? String(vars[name]) : `{${name}}`));
}

/** Fill every `[data-i18n]` element under `root` (static text in index.html). */
export function translate(root = document) {
  for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll("[data-i18n-label]")) {
    el.setAttribute("aria-label", t(el.dataset.i18nLabel));
  }
}

const BCP47 = { en: "en-US", ko: "ko-KR" };

/** A price in the instrument's currency (KRW without decimals). */
export function money(value, currency) {
  if (value == null || Number.isNaN(value)) return "—";
  try {
    return new Intl.NumberFormat(BCP47[current], { style: "currency", currency }).format(value);
  } catch {
    return number(value, 2);
  }
}

/** A plain number with `digits` decimals. */
export function number(value, digits = 2) {
  if (value == null || Number.isNaN(value)) return "—";
  return new Intl.NumberFormat(BCP47[current], {
    minimumFractionDigits: digits,
    maximumFractionDigits: digits,
  }).format(value);
}

/** A signed percentage, e.g. "+1.25%". */
export function percent(value) {
  if (value == null || Number.isNaN(value)) return "—";
  return new Intl.NumberFormat(BCP47[current], {
    style: "percent",
    minimumFractionDigits: 2,
    maximumFractionDigits: 2,
    signDisplay: "exceptZero",
  }).format(value);
}

/** A calendar day given as YYYY-MM-DD (an ex-date), the same in every time zone. */
export function day(isoDate) {
  if (!isoDate) return "—";
  return new Intl.DateTimeFormat(BCP47[current], { dateStyle: "medium", timeZone: "UTC" })
    .format(new Date(`${isoDate}T00:00:00Z`));
}

/** A date (and time, unless `dateOnly`) in the viewer's time zone. */
export function when(iso, dateOnly = false) {
  if (!iso) return "—";
  const options = dateOnly ? { dateStyle: "medium" } : { dateStyle: "medium", timeStyle: "short" };
  return new Intl.DateTimeFormat(BCP47[current], options).format(new Date(iso));
}
