import type { Metadata } from "next";
import Link from "next/link";
import { TRPCReactProvider } from "@/trpc/react";
import "./globals.css";

export const metadata: Metadata = {
  title: "merge-search",
  description: "Model-merge searches over LoRA experts, live",
};

const navigation = [
  { href: "/", label: "Runs" },
  { href: "/runs/new", label: "New search" },
  { href: "/models", label: "Models" },
  { href: "/system", label: "System" },
];

export default function RootLayout({ children }: { children: React.ReactNode }) {
  return (
    <html lang="en">
      <body>
        <TRPCReactProvider>
          <header className="border-b border-slate-200 bg-white">
            <nav className="mx-auto flex max-w-7xl items-center gap-6 px-6 py-3">
              <Link href="/" className="font-semibold tracking-tight text-slate-900">
                merge-search
              </Link>
              {navigation.map((item) => (
                <Link key={item.href} href={item.href} className="text-sm text-slate-600 hover:text-slate-900">
                  {item.label}
                </Link>
              ))}
            </nav>
          </header>
          <main className="mx-auto max-w-7xl px-6 py-8">{children}</main>
        </TRPCReactProvider>
      </body>
    </html>
  );
}
