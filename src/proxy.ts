import { NextResponse, type NextRequest } from "next/server";

/*
 * The dashboard's access check. Bound to a loopback address (the default) it serves only requests addressed to
 * a loopback name (Host) and, when a browser says where a request comes from (Origin), only from the dashboard's
 * own pages: a web page whose name was rebound to 127.0.0.1, or any other site, gets nothing. The launcher
 * refuses any other HOST without DASHBOARD_TOKEN, and with a token set every request must carry it:
 * `Authorization: Bearer <token>`, or the cookie set once by opening `/?token=<token>`.
 */

export const TOKEN_COOKIE = "merge_search_token";

function sameToken(given: string | null | undefined, expected: string): boolean {
  if (!given || given.length !== expected.length) return false;
  let difference = 0;
  for (let i = 0; i < expected.length; i++) difference |= given.charCodeAt(i) ^ expected.charCodeAt(i);
  return difference === 0;
}

const LOOPBACK_NAMES = ["localhost", "127.0.0.1", "[::1]"];

function hostnameOf(host: string): string | null {
  try {
    return new URL(`http://${host}`).hostname;
  } catch {
    return null;
  }
}

/** Why a request to the loopback-bound dashboard is refused (rebinding, another site), or null. */
export function loopbackRequestProblem(headers: Headers, boundHost = process.env.HOST): string | null {
  const host = headers.get("host") ?? "";
  const allowed = new Set([...LOOPBACK_NAMES, ...(boundHost ? [hostnameOf(boundHost.trim()) ?? ""] : [])].filter(Boolean));
  const hostname = hostnameOf(host);
  if (!hostname || !allowed.has(hostname)) {
    return `this dashboard answers only to ${[...allowed].join(", ")}, not to the host name "${host}"; open it as http://127.0.0.1:<port>`;
  }
  const origin = headers.get("origin");
  if (origin !== null && origin !== `http://${host}` && origin !== `https://${host}`) {
    return `requests from other sites (${origin}) are refused; use the dashboard's own pages at http://${host}`;
  }
  return null;
}

export function proxy(request: NextRequest) {
  const expected = process.env.DASHBOARD_TOKEN?.trim();
  if (!expected) {
    const problem = loopbackRequestProblem(request.headers);
    return problem ? new NextResponse(`403: ${problem}\n`, { status: 403, headers: { "content-type": "text/plain; charset=utf-8" } }) : NextResponse.next();
  }

  const url = request.nextUrl;
  const fromQuery = url.searchParams.get("token");
  if (fromQuery !== null) {
    if (!sameToken(fromQuery, expected)) return denied("the token in the address is wrong");
    // Keep the token out of the address bar and history: set the cookie and drop the parameter.
    const clean = url.clone();
    clean.searchParams.delete("token");
    const response = NextResponse.redirect(clean);
    response.cookies.set(TOKEN_COOKIE, expected, { httpOnly: true, sameSite: "strict", path: "/", secure: url.protocol === "https:" });
    return response;
  }
  const bearer = /^Bearer\s+(.+)$/i.exec(request.headers.get("authorization") ?? "")?.[1]?.trim();
  if (sameToken(bearer, expected) || sameToken(request.cookies.get(TOKEN_COOKIE)?.value, expected)) return NextResponse.next();
  return denied("this dashboard requires its access token");
}

function denied(reason: string) {
  return new NextResponse(`401: ${reason}. Open /?token=<DASHBOARD_TOKEN> once in this browser, or send "Authorization: Bearer <DASHBOARD_TOKEN>".\n`, {
    status: 401,
    headers: { "content-type": "text/plain; charset=utf-8", "www-authenticate": 'Bearer realm="merge-search"' },
  });
}

export const config = {
  // Everything, static assets included: the whole dashboard is private once a token is set.
  matcher: "/:path*",
};
