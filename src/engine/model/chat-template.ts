// A model's chat template (the Jinja of tokenizer_config.json or chat_template.jinja) rendered as transformers'
// apply_chat_template renders it, through @huggingface/jinja, HF's maintained JS implementation.
import { Template } from "@huggingface/jinja";

export interface ChatMessage {
  role: "system" | "user" | "assistant";
  content: string;
}

/** A chat template that does not parse or does not render; one line naming the template's file and the Jinja error. */
export class ChatTemplateError extends Error {
  override name = "ChatTemplateError";
  constructor(
    readonly file: string,
    problem: string,
  ) {
    super(`${file}: ${problem}`);
  }
}

/** The special tokens apply_chat_template passes to the template (its special_tokens_map), by their text. */
export type SpecialTokenTexts = Partial<Record<"bos_token" | "eos_token" | "unk_token" | "pad_token", string>>;

const SPECIAL_TOKEN_KEYS = ["bos_token", "eos_token", "unk_token", "pad_token"] as const;

/** tokenizer_config.json writes a special token as its text or as an AddedToken object {content, ...}. */
export function specialTokenTexts(config: Record<string, unknown>): SpecialTokenTexts {
  const texts: SpecialTokenTexts = {};
  for (const key of SPECIAL_TOKEN_KEYS) {
    const value = config[key];
    const text = typeof value === "string" ? value : typeof (value as { content?: unknown } | null)?.content === "string" ? (value as { content: string }).content : undefined;
    if (text !== undefined) texts[key] = text;
  }
  return texts;
}

const firstLine = (error: unknown) => (error instanceof Error ? error.message : String(error)).split("\n")[0];

export class ChatTemplate {
  /** A template that does not parse is an error only once a prompt needs it: plain prompts do not. */
  private readonly parsed: Template | ChatTemplateError;

  constructor(
    readonly source: string,
    /** Where the template was read from, for its errors: tokenizer_config.json or chat_template.jinja. */
    readonly file: string,
    private readonly specialTokens: SpecialTokenTexts,
  ) {
    try {
      this.parsed = new Template(source);
    } catch (error) {
      this.parsed = new ChatTemplateError(file, `chat_template does not parse (${firstLine(error)})`);
    }
  }

  /**
   * The prompt text of `messages` followed by the assistant's turn opening (add_generation_prompt), as HF renders
   * it; without that opening for a conversation that ends with the assistant's answer (what a reward model scores).
   * It holds the BOS text where the template writes one, so it is tokenized without adding special tokens.
   */
  render(messages: readonly ChatMessage[], { addGenerationPrompt = true } = {}): string {
    if (this.parsed instanceof ChatTemplateError) throw this.parsed;
    try {
      // raise_exception and strftime_now are globals of @huggingface/jinja, as apply_chat_template defines them.
      return this.parsed.render({ messages, add_generation_prompt: addGenerationPrompt, ...this.specialTokens });
    } catch (error) {
      throw new ChatTemplateError(this.file, `chat_template fails to render (${firstLine(error)})`);
    }
  }
}
