/**
 * Offline text analysis for the `local` provider: sentiment and sentence splitting from
 * wink-nlp's English lite model, profanity from obscenity's English dataset, and extractive
 * summaries by sentence scoring. Everything runs in-process; nothing leaves the machine.
 *
 * Why these packages (docs/ai.md): wink-nlp ships tokenisation, sentence boundaries, stop words
 * and a sentiment score in one maintained, dependency-free package with a small model (about
 * 1 MB); obscenity matches a curated English list and resists l33t and spacing tricks.
 */
import winkNLP, { type ItemToken } from 'wink-nlp';
import model from 'wink-eng-lite-web-model';
import { englishDataset, englishRecommendedTransformers, RegExpMatcher } from 'obscenity';

export type SentimentLabel = 'positive' | 'neutral' | 'negative';

export interface SentimentResult {
  /** -1 (very negative) … 1 (very positive). */
  score: number;
  label: SentimentLabel;
}

export interface ModerationResult {
  flagged: boolean;
  categories: string[];
}

/** Scores within this distance of 0 are neutral. */
const neutralBand = 0.05;

export function sentimentLabel(score: number): SentimentLabel {
  if (score > neutralBand) return 'positive';
  if (score < -neutralBand) return 'negative';
  return 'neutral';
}

export class TextAnalyzer {
  private readonly nlp = winkNLP(model);
  private readonly matcher = new RegExpMatcher({ ...englishDataset.build(), ...englishRecommendedTransformers });

  sentiment(text: string): SentimentResult {
    const score = this.nlp.readDoc(text).out(this.nlp.its.sentiment) as unknown as number;
    const rounded = Math.round(score * 1000) / 1000;
    return { score: rounded, label: sentimentLabel(rounded) };
  }

  moderate(text: string): ModerationResult {
    const flagged = this.matcher.hasMatch(text);
    return { flagged, categories: flagged ? ['profanity'] : [] };
  }

  /**
   * The `maxSentences` most informative sentences, in their original order. A sentence scores
   * the mean document frequency of its content words (stop words and punctuation left out), so
   * sentences about what the text keeps returning to win over asides.
   */
  summarize(text: string, maxSentences = 3): string {
    const { its } = this.nlp;
    const doc = this.nlp.readDoc(text);
    const frequency = new Map<string, number>();
    const sentences: Array<{ text: string; words: string[]; index: number }> = [];
    doc.sentences().each((sentence, index) => {
      const words: string[] = [];
      sentence.tokens().each((token: ItemToken) => {
        if (token.out(its.type) !== 'word' || token.out(its.stopWordFlag)) return;
        const word = token.out(its.normal) as string;
        words.push(word);
        frequency.set(word, (frequency.get(word) ?? 0) + 1);
      });
      sentences.push({ text: sentence.out() as string, words, index });
    });
    const scored = sentences
      .filter((s) => s.words.length > 0)
      .map((s) => ({ ...s, score: s.words.reduce((sum, w) => sum + (frequency.get(w) ?? 0), 0) / Math.sqrt(s.words.length) }));
    const chosen = scored.sort((a, b) => b.score - a.score || a.index - b.index).slice(0, maxSentences);
    return chosen.sort((a, b) => a.index - b.index).map((s) => s.text.trim()).join(' ');
  }
}
