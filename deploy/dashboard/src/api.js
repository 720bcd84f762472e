// The REST API through the gateway: GET with query parameters in the API's own names,
// the API key as a bearer header, and the server's errors in plain words.

export class ApiError extends Error {
  constructor(httpStatus, code, message) {
    super(message);
    this.httpStatus = httpStatus;
    this.code = code;
  }
}

export async function get(path, params, key) {
  const url = new URL(path, window.location.origin);
  for (const [name, value] of Object.entries(params || {})) {
    if (Array.isArray(value)) {
      for (const v of value) url.searchParams.append(name, v);
    } else if (value !== undefined && value !== null && value !== '') {
      url.searchParams.set(name, value);
    }
  }
  const headers = { Accept: 'application/json' };
  if (key) headers.Authorization = `Bearer ${key}`;
  let res;
  try {
    res = await fetch(url, { headers });
  } catch (e) {
    throw new ApiError(0, 14, `the gateway did not answer (${e.message})`);
  }
  const text = await res.text();
  let body = null;
  try {
    body = JSON.parse(text);
  } catch {
    body = null;
  }
  if (!res.ok) {
    const message = (body && (body.message || body.error)) || text.trim() || res.statusText;
    throw new ApiError(res.status, body ? body.code : undefined, message);
  }
  return body;
}

// What went wrong, for the person looking at the page.
export function explain(err, tenant) {
  if (!(err instanceof ApiError)) return `Something went wrong in the page: ${err.message}`;
  switch (err.httpStatus) {
    case 0:
      return `The service cannot be reached: ${err.message}.`;
    case 400:
      return `The service refused the query: ${err.message}`;
    case 401:
      return `The API key is missing or not valid: enter a key with the read role in "API key" (${err.message}).`;
    case 403:
      return `This API key may not read tenant "${tenant}" (${err.message}).`;
    case 404:
      return `Not found: ${err.message}`;
    case 412:
      return `The query needs something first: ${err.message}`;
    case 429:
    case 503:
      return `The service is busy or unavailable; try again in a moment (${err.message}).`;
    case 504:
      return `The query took longer than its deadline: narrow the date range (${err.message}).`;
    default:
      return `The service answered ${err.httpStatus}: ${err.message}`;
  }
}
