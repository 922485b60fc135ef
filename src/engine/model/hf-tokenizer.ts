// The tokenizer of a Hugging Face model folder (tokenizer.json, tokenizer_config.json) through
// @huggingface/tokenizers, and its chat template.
import fs from "node:fs";
import path from "node:path";
import { Tokenizer } from "@huggingface/tokenizers";
import { ChatTemplate, specialTokenTexts } from "./chat-template";
import { readJsonObject } from "./hf-json";

export const TOKENIZER = "tokenizer.json";
export const TOKENIZER_CONFIG = "tokenizer_config.json";
/** transformers 4.43+ saves the chat template in a file of its own instead of tokenizer_config.json. */
export const CHAT_TEMPLATE = "chat_template.jinja";
const SPECIAL_TOKENS_MAP = "special_tokens_map.json";

const TOKENIZER_MODELS = ["BPE", "Unigram", "WordPiece"] as const;

/** A tokenizer that cannot be loaded; one line naming the file. */
export class TokenizerLoadError extends Error {
  override name = "TokenizerLoadError";
  constructor(
    readonly file: string,
    problem: string,
  ) {
    super(`${file}: ${problem}`);
  }
}

export interface ModelTokenizer {
  tokenizer: Tokenizer;
  /** The Jinja chat template (chat_template.jinja, else tokenizer_config.json's: the "default" one where it lists several), or null. */
  chatTemplate: ChatTemplate | null;
}

/** As transformers 5 reads it: chat_template.jinja where the folder has one, else tokenizer_config.json's chat_template. */
function chatTemplateOf(config: Record<string, unknown>, folder: string, configFile: string): ChatTemplate | null {
  // Older folders name a special token only in special_tokens_map.json; a template that writes bos_token needs it.
  const mapFile = path.join(folder, SPECIAL_TOKENS_MAP);
  const map = fs.existsSync(mapFile) ? readJsonObject(mapFile, (problem) => new TokenizerLoadError(mapFile, problem)) : {};
  const specialTokens = { ...specialTokenTexts(map), ...specialTokenTexts(config) };
  const jinja = path.join(folder, CHAT_TEMPLATE);
  if (fs.existsSync(jinja)) return new ChatTemplate(fs.readFileSync(jinja, "utf8"), jinja, specialTokens);
  const template = config.chat_template;
  if (typeof template === "string") return new ChatTemplate(template, configFile, specialTokens);
  if (Array.isArray(template)) {
    // The older multi-template form: [{name, template}, ...], of which "default" is what apply_chat_template uses.
    const named = template.find((entry): entry is { name: string; template: string } => entry?.name === "default" && typeof entry.template === "string");
    if (!named) throw new TokenizerLoadError(configFile, 'chat_template: a list of templates needs one named "default" with a string template');
    return new ChatTemplate(named.template, configFile, specialTokens);
  }
  if (template !== undefined && template !== null) throw new TokenizerLoadError(configFile, "chat_template: expected a Jinja template string");
  return null;
}

/** Loads tokenizer.json (required) with tokenizer_config.json (optional, holding special tokens and the chat template). */
export function loadTokenizer(folder: string): ModelTokenizer {
  const file = path.join(folder, TOKENIZER);
  const configFile = path.join(folder, TOKENIZER_CONFIG);
  const json = readJsonObject(file, (problem) => new TokenizerLoadError(file, problem));
  const modelType = (json.model as { type?: unknown } | undefined)?.type;
  // For a type it does not know, @huggingface/tokenizers guesses a model from the vocabulary's shape: refuse instead.
  if (modelType !== undefined && !(TOKENIZER_MODELS as readonly unknown[]).includes(modelType))
    throw new TokenizerLoadError(file, `model.type: ${JSON.stringify(modelType)} is not supported by @huggingface/tokenizers (supported: ${TOKENIZER_MODELS.join(", ")})`);
  const config = fs.existsSync(configFile) ? readJsonObject(configFile, (problem) => new TokenizerLoadError(configFile, problem)) : {};
  let tokenizer: Tokenizer;
  try {
    tokenizer = new Tokenizer(json, config);
    // Some broken files only fail on first use: one encode proves the pipeline runs.
    tokenizer.encode("a");
  } catch (error) {
    throw new TokenizerLoadError(file, `@huggingface/tokenizers cannot load it (${(error as Error).message.split("\n")[0]})`);
  }
  indexAddedTokens((tokenizer as unknown as { decoder?: DecoderInternals }).decoder);
  return { tokenizer, chatTemplate: chatTemplateOf(config, folder, configFile) };
}

/** The part of @huggingface/tokenizers' decoders (0.2) this module reaches into. */
interface DecoderInternals {
  added_tokens?: Array<{ content: string }>;
  byte_decoder?: unknown;
  decoders?: DecoderInternals[];
  convert_tokens_to_string?: (tokens: string[]) => string;
  decode_chain?: (tokens: string[]) => string[];
}

/**
 * The ByteLevel decoder (GPT-2, Llama 3, Qwen2) looks every token it decodes up among the added tokens with a linear
 * search: with a few thousand of them (a vocabulary grown by added tokens) one answer takes milliseconds to decode,
 * more than generating it. The same loop with the added tokens in a set.
 */
function indexAddedTokens(decoder: DecoderInternals | undefined): void {
  if (!decoder) return;
  decoder.decoders?.forEach(indexAddedTokens);
  const { added_tokens: addedTokens, convert_tokens_to_string: convert } = decoder;
  if (decoder.byte_decoder === undefined || !Array.isArray(addedTokens) || typeof convert !== "function" || typeof decoder.decode_chain !== "function") return;
  const added = new Set(addedTokens.map((token) => token.content));
  decoder.decode_chain = (tokens) => {
    const texts: string[] = [];
    let run: string[] = [];
    for (const token of tokens) {
      if (!added.has(token)) {
        run.push(token);
        continue;
      }
      if (run.length > 0) texts.push(convert.call(decoder, run));
      run = [];
      texts.push(token);
    }
    if (run.length > 0) texts.push(convert.call(decoder, run));
    return texts;
  };
}
