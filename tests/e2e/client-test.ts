// Uses the orval client generated from the running daemon's /openapi.json as
// the backend does: its code-execution tool sends CSV data sources as
// files {"<uuid>.csv": base64}, tells the model to read
// /execution/files/<uuid>.csv and to write results into /execution/output/,
// then base64-decodes each output file, parses it as CSV and skips files that
// fail to parse. Run by run.sh with CODE_EXECUTION_SERVICE_URL set.
import { randomUUID } from 'node:crypto';
import { isAxiosError } from 'axios';

import { AXIOS_INSTANCE } from './mutator';

import { getAyunisCodeExecutionService } from './generated/ayunisCodeExecutionService';
import type {
  ExecutionRequest,
  ExecutionResponse,
  HealthResponse,
  HTTPValidationError,
  ValidationError,
} from './generated/ayunisCodeExecutionService.schemas';

// --- The types orval generated from the old FastAPI service's document. ----
// The new ones must be interchangeable with them (additions only optional), or
// the backend's code would not compile against the new client.
interface OldExecutionRequest {
  code: string;
  files?: { [key: string]: string } | null;
}
interface OldExecutionResponse {
  success: boolean;
  output?: string;
  error?: string;
  exit_code: number;
  execution_id: string;
  output_files?: { [key: string]: string } | null;
}
interface OldHealthResponse {
  status: string;
  message?: string;
}
interface OldValidationError {
  loc: (string | number)[];
  msg: string;
  type: string;
}
interface OldHTTPValidationError {
  detail?: OldValidationError[];
}

type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
type Assert<T extends true> = T;
export type Compatible = [
  Assert<Same<ExecutionRequest, OldExecutionRequest>>,
  Assert<Same<ExecutionResponse, OldExecutionResponse>>,
  Assert<Same<HealthResponse, OldHealthResponse>>,
  Assert<Same<ValidationError, OldValidationError>>,
  Assert<Same<HTTPValidationError, OldHTTPValidationError>>,
];

// --- A tiny test harness. ---------------------------------------------------
let failures = 0;
function check(name: string, ok: boolean, detail?: unknown): void {
  if (ok) {
    console.log(`  ok - ${name}`);
  } else {
    failures++;
    console.log(`  not ok - ${name}${detail === undefined ? '' : ': ' + JSON.stringify(detail)}`);
  }
}

// The backend's CSV handling: a simple parser that throws on ragged rows.
function parseCsv(text: string): string[][] {
  const rows = text.replace(/\r\n/g, '\n').replace(/\n$/, '').split('\n').map((l) => l.split(','));
  if (rows.length === 0 || rows.some((r) => r.length !== rows[0].length)) {
    throw new Error('not a CSV table');
  }
  return rows;
}

function csvSources(res: ExecutionResponse): Map<string, string[][]> {
  const out = new Map<string, string[][]>();
  for (const [name, b64] of Object.entries(res.output_files ?? {})) {
    try {
      out.set(name, parseCsv(Buffer.from(b64, 'base64').toString('utf8')));
    } catch {
      // skipped, as the backend does
    }
  }
  return out;
}

const api = getAyunisCodeExecutionService();

// With API keys on (CODE_EXECUTION_SERVICE_KEY set by run.sh), the backend
// adds the key to its axios instance; the generated client is unchanged.
const apiKey = process.env.CODE_EXECUTION_SERVICE_KEY;

async function apiKeys(): Promise<void> {
  if (!apiKey) return;
  try {
    await api.executeCodeExecutePost({ code: 'print(1)' });
    check('without the key: 401', false, 'answered');
  } catch (e) {
    const status = isAxiosError(e) ? e.response?.status : undefined;
    check('without the key: 401', status === 401, status);
    check('without the key: detail "Not authenticated"',
      isAxiosError(e) && JSON.stringify(e.response?.data) === '{"detail":"Not authenticated"}',
      isAxiosError(e) ? e.response?.data : e);
  }
  AXIOS_INSTANCE.defaults.headers.common['Authorization'] = `Bearer ${apiKey}`;
}

async function health(): Promise<void> {
  const h: HealthResponse = await api.healthCheckHealthGet();
  check('healthCheckHealthGet: status "healthy"', h.status === 'healthy', h);
  check('healthCheckHealthGet: message is a string', typeof h.message === 'string', h);
}

async function root(): Promise<void> {
  const r = await api.rootGet();
  const want = {
    service: 'Ayunis Code Execution Service',
    version: '0.1.0',
    status: 'running',
    docs: '/docs',
    health: '/health',
  };
  check('rootGet: service information', JSON.stringify(r) === JSON.stringify(want), r);
}

async function csvRoundTrip(): Promise<void> {
  const id = randomUUID();
  const input = 'region,city,price,quantity\nnorth,Zürich,3,4\nsouth,Lyon,5,2\nnorth,Oslo,2,10\n';
  const code = [
    'import pandas as pd',
    `df = pd.read_csv("/execution/files/${id}.csv")`,
    'df["total"] = df["price"] * df["quantity"]',
    'summary = df.groupby("region", as_index=False)["total"].sum().sort_values("region")',
    'summary.to_csv("/execution/output/result.csv", index=False)',
    'print(summary.to_string(index=False))',
  ].join('\n');
  const request: OldExecutionRequest = {
    code,
    files: { [`${id}.csv`]: Buffer.from(input, 'utf8').toString('base64') },
  };
  const res = await api.executeCodeExecutePost(request);
  check('executeCodeExecutePost (pandas CSV): success', res.success === true, res);
  check('executeCodeExecutePost: exit_code 0', res.exit_code === 0, res.exit_code);
  check('executeCodeExecutePost: execution_id is 8 hex digits',
    /^[0-9a-f]{8}$/.test(res.execution_id), res.execution_id);
  check('executeCodeExecutePost: stdout has the summary',
    (res.output ?? '').includes('north') && (res.output ?? '').includes('32'), res.output);
  check('executeCodeExecutePost: stderr empty', (res.error ?? '') === '', res.error);
  const sources = csvSources(res);
  check('output_files: exactly result.csv', JSON.stringify([...sources.keys()]) === '["result.csv"]',
    Object.keys(res.output_files ?? {}));
  check('output_files: result.csv content',
    JSON.stringify(sources.get('result.csv')) ===
      JSON.stringify([['region', 'total'], ['north', '32'], ['south', '10']]),
    sources.get('result.csv'));
}

// The old backend's code, unchanged, sees only CSV files even when the
// program draws a chart; a new client opts in to everything with
// output_include, the field this daemon adds to the generated types.
async function outputInclude(): Promise<void> {
  const code = [
    'import matplotlib.pyplot as plt',
    'open("/execution/output/t.csv", "w").write("a\\n1\\n")',
    'plt.plot([1, 2, 3])',
    'plt.savefig("/execution/output/chart.png")',
  ].join('\n');
  const old = await api.executeCodeExecutePost({ code } as OldExecutionRequest);
  check('output_files without output_include: only t.csv',
    JSON.stringify(Object.keys(old.output_files ?? {})) === '["t.csv"]', old.output_files);
  const all = await api.executeCodeExecutePost({ code, output_include: ['*'] });
  const names = Object.keys(all.output_files ?? {}).sort();
  check('output_include ["*"]: chart.png and t.csv',
    JSON.stringify(names) === '["chart.png","t.csv"]', names);
  const png = Buffer.from((all.output_files ?? {})['chart.png'] ?? '', 'base64');
  check('output_include: chart.png is a PNG', png.subarray(1, 4).toString() === 'PNG', png.length);
}

async function failures_(): Promise<void> {
  // No output files: null, not {}.
  const ok = await api.executeCodeExecutePost({ code: 'print(6*7)' });
  check('executeCodeExecutePost (print): output "42\\n", output_files null',
    ok.success && ok.output === '42\n' && ok.output_files === null, ok);

  // A failing program is a 200 with success false (the backend reports it).
  const bad = await api.executeCodeExecutePost({ code: 'import sys\nprint("partial")\n1/0' });
  check('executeCodeExecutePost (1/0): success false, exit_code 1',
    bad.success === false && bad.exit_code === 1, bad);
  check('executeCodeExecutePost (1/0): ZeroDivisionError in error',
    (bad.error ?? '').includes('ZeroDivisionError'), bad.error);

  // A request without code: 422 in FastAPI's shape.
  try {
    await api.executeCodeExecutePost({} as ExecutionRequest);
    check('executeCodeExecutePost ({}): 422', false, 'no error');
  } catch (e) {
    const status = isAxiosError(e) ? e.response?.status : undefined;
    const body = (isAxiosError(e) ? e.response?.data : undefined) as HTTPValidationError | undefined;
    check('executeCodeExecutePost ({}): 422', status === 422, status);
    check('executeCodeExecutePost ({}): detail as FastAPI',
      JSON.stringify(body) ===
        JSON.stringify({ detail: [{ loc: ['body', 'code'], msg: 'Field required', type: 'missing' }] }),
      body);
  }
}

// POST /execute/stream read with Node's fetch, line by line as it comes: the
// first line of a program that prints, sleeps 2 s and prints again must
// arrive well before the program ends (no absolute start-up time is asserted:
// the machine is shared).
async function stream(): Promise<void> {
  const base = process.env.CODE_EXECUTION_SERVICE_URL || 'http://localhost:8080';
  const headers: Record<string, string> = { 'Content-Type': 'application/json' };
  if (apiKey) headers.Authorization = `Bearer ${apiKey}`;
  const code = "import time\nprint('one')\ntime.sleep(2)\nprint('two')\n";
  const t0 = performance.now();
  const res = await fetch(`${base}/execute/stream`, {
    method: 'POST', headers, body: JSON.stringify({ code }),
  });
  check('/execute/stream: 200 application/x-ndjson',
    res.status === 200 && (res.headers.get('content-type') ?? '').startsWith('application/x-ndjson'),
    [res.status, res.headers.get('content-type')]);
  const lines: { at: number; obj: Record<string, unknown> }[] = [];
  const decoder = new TextDecoder();
  let pending = '';
  for await (const piece of res.body as unknown as AsyncIterable<Uint8Array>) {
    pending += decoder.decode(piece, { stream: true });
    let nl: number;
    while ((nl = pending.indexOf('\n')) >= 0) {
      lines.push({ at: performance.now() - t0, obj: JSON.parse(pending.slice(0, nl)) });
      pending = pending.slice(nl + 1);
    }
  }
  check('/execute/stream: the body ends with a complete line', pending === '', pending);
  const at = (text: string) =>
    lines.find((l) => l.obj.type === 'stdout' && String(l.obj.data).includes(text))?.at ?? -1;
  const one = at('one'), two = at('two');
  const last = lines[lines.length - 1]?.obj;
  console.log(`  stream: 'one' after ${one.toFixed(0)} ms, 'two' after ${two.toFixed(0)} ms, ` +
    `${lines.length} lines`);
  check('/execute/stream: both lines came', one >= 0 && two >= 0, lines);
  // Not streamed, both would come together at the end; streamed, the 2 s
  // sleep lies between them (a slow start delays both alike).
  check('/execute/stream: the first came before the program ended', one >= 0 && two - one > 1000,
    { one, two });
  check('/execute/stream: a single result line, last, successful',
    lines.filter((l) => l.obj.type === 'result').length === 1 && last?.type === 'result' &&
      last?.success === true && last?.exit_code === 0, last);
}

// A session as an agent uses one: a CSV uploaded once, loaded by setup code,
// then several questions in the same interpreter, then ended.
async function sessions(): Promise<void> {
  const csv = Buffer.from('region,revenue\nnorth,120\nsouth,80\n').toString('base64');
  const created = await api.createSessionSessionsPost({
    files: { 'sales.csv': csv },
    code: "import pandas as pd\ndf = pd.read_csv('/execution/files/sales.csv')",
  });
  const id = created.session_id;
  check('createSessionSessionsPost: a 32-hex-digit id', /^[0-9a-f]{32}$/.test(id), created);
  check('createSessionSessionsPost: setup succeeded', created.setup.success === true, created.setup);
  const asks: [string, string][] = [
    ['print(len(df))', '2\n'],
    ['top = df.sort_values("revenue").iloc[-1]\nprint(top.region)', 'north\n'],
    ['print(int(df.revenue.sum()), int(top.revenue))', '200 120\n'],
  ];
  for (const [code, want] of asks) {
    const res = await api.executeInSessionSessionsSessionIdExecutePost(id, { code });
    check(`executeInSession ${JSON.stringify(code)}: ${JSON.stringify(want)}`,
      res.success === true && res.output === want, res);
  }
  const state = await api.getSessionSessionsSessionIdGet(id);
  check('getSession: 4 calls, idle', state.calls === 4 && state.state === 'idle', state);
  await api.deleteSessionSessionsSessionIdDelete(id);
  try {
    await api.getSessionSessionsSessionIdGet(id);
    check('getSession after delete: 404', false, 'answered');
  } catch (e) {
    const status = isAxiosError(e) ? e.response?.status : undefined;
    const detail = isAxiosError(e) ? (e.response?.data as { detail?: string })?.detail : undefined;
    check('getSession after delete: 404', status === 404, status);
    check('getSession after delete: says it was deleted',
      typeof detail === 'string' && detail.includes('ended: it was deleted'), detail);
  }
}

async function main(): Promise<void> {
  const steps: [string, () => Promise<void>][] = [
    ['api keys', apiKeys],
    ['health', health],
    ['root', root],
    ['csv round trip', csvRoundTrip],
    ['failures', failures_],
    ['output_include', outputInclude],
    ['stream', stream],
    ['sessions', sessions],
  ];
  for (const [name, step] of steps) {
    try {
      await step();
    } catch (e) {
      check(`${name}: no exception`, false, isAxiosError(e) ? `${e.message} ${JSON.stringify(e.response?.data)}` : String(e));
    }
  }
  console.log(failures === 0 ? '  client: all checks passed' : `  client: ${failures} check(s) failed`);
  process.exit(failures === 0 ? 0 : 1);
}

void main();
