import { NextResponse, type NextRequest } from "next/server";

/*
 * The dashboard's access check. Bound to a loopback address (the default) it lets everything through; the
 * launcher refuses any other HOST without DASHBOARD_TOKEN, and with a token set every request must carry it:
 * `Authorization: Bearer <token>`, or the cookie set once by opening `/?token=<token>`.
 */

export const TOKEN_COOKIE = "merge_search_token";

function sameToken(given: string | null | undefined, expected: string): boolean {
  if (!given || given.length !== expected.length) return false;
  let difference = 0;
  for (let i = 0; i < expected.length; i++) difference |= given.charCodeAt(i) ^ expected.charCodeAt(i);
  return difference === 0;
}

export function proxy(request: NextRequest) {
  const expected = process.env.DASHBOARD_TOKEN?.trim();
  if (!expected) return NextResponse.next();

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
