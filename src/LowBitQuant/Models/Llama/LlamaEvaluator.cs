using System.Diagnostics;
using System.Numerics.Tensors;
using LowBitQuant.Internal;

namespace LowBitQuant;

/// <summary>
/// Perplexity over non-overlapping windows of the model's context, and the distance of a second (quantized) model's next-token
/// distributions from the first's.
/// </summary>
/// <remarks>
/// Each document (text token ids, no BOS) is cut into consecutive, non-overlapping windows. With
/// <see cref="EvaluationOptions.BosTokenId"/> set, a window is <c>[BOS] + up to context − 1 text tokens</c> and every text token
/// is scored once; this reproduces the protocol of <c>docs/formats/llama2c.md</c> §5 (<c>[1] + encode(text)</c>, cut to the context)
/// for the first window. Mean NLL = <c>−(1/N) Σ log softmax(logits_t)[x_{t+1}]</c>, perplexity = <c>exp(mean NLL)</c>.
/// KL divergence per position = <c>Σᵥ p(v)(log p(v) − log q(v))</c> with p the full-precision and q the quantized distribution.
/// </remarks>
public static class LlamaEvaluator
{
    /// <summary>Evaluates <paramref name="model"/> (and, optionally, <paramref name="quantized"/> against it) on tokenized documents.</summary>
    /// <param name="model">The full-precision model.</param>
    /// <param name="documents">Token ids of each document, without BOS.</param>
    /// <param name="options">Windowing; null for defaults (the model's context, no BOS).</param>
    /// <param name="quantized">A model to compare with <paramref name="model"/>; it must have the same vocabulary and context.</param>
    /// <param name="progress">Receives progress after each batch of windows.</param>
    /// <param name="cancellationToken">Cancels between batches and between decoder blocks.</param>
    /// <exception cref="ArgumentNullException"><paramref name="model"/> or <paramref name="documents"/> is null.</exception>
    /// <exception cref="ArgumentException">No documents; a document (after truncation, with BOS) is shorter than two tokens; the
    /// context exceeds the model's; or <paramref name="quantized"/> does not match <paramref name="model"/>.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A token id is outside the vocabulary.</exception>
    /// <exception cref="OperationCanceledException">Cancelled.</exception>
    public static EvaluationResult Evaluate(
        LlamaModel model,
        IReadOnlyList<int[]> documents,
        EvaluationOptions? options = null,
        LlamaModel? quantized = null,
        IProgress<EvaluationProgress>? progress = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(documents);
        options ??= new EvaluationOptions();
        LlamaConfig config = model.Config;
        int context = options.ContextLength ?? config.MaxSequenceLength;
        if (context > config.MaxSequenceLength)
        {
            ThrowHelper.ThrowArgument(nameof(options), $"Context length {context} exceeds the model's context of {config.MaxSequenceLength}.");
        }

        if (quantized is not null)
        {
            LlamaConfig qc = quantized.Config;
            if (qc.VocabSize != config.VocabSize || qc.Dim != config.Dim || qc.Layers != config.Layers || qc.HiddenDim != config.HiddenDim
                || qc.Heads != config.Heads || qc.KvHeads != config.KvHeads || qc.MaxSequenceLength < context)
            {
                ThrowHelper.ThrowArgument(nameof(quantized), $"The quantized model ({qc}) does not match the model it is compared with ({config}).");
            }
        }

        if (documents.Count == 0)
        {
            ThrowHelper.ThrowArgument(nameof(documents), "At least one document is required.");
        }

        if (options.BosTokenId is { } bosId && (uint)bosId >= (uint)config.VocabSize)
        {
            ThrowHelper.ThrowArgumentOutOfRange(nameof(options), bosId, $"BOS id {bosId} is outside the vocabulary [0, {config.VocabSize}).");
        }

        List<int[]> windows = CutWindows(documents, options, context, config.VocabSize);
        long totalScored = 0;
        foreach (int[] w in windows)
        {
            totalScored += w.Length - 1;
        }

        var stopwatch = Stopwatch.StartNew();
        double nll = 0, qNll = 0, kl = 0;
        long agree = 0, scored = 0, tokensRun = 0;
        int vocab = config.VocabSize;
        var logP = new float[vocab];
        var logQ = new float[vocab];
        var p = new float[vocab];
        for (int b = 0; b < windows.Count; b += options.BatchSize)
        {
            cancellationToken.ThrowIfCancellationRequested();
            List<int[]> batch = windows.GetRange(b, Math.Min(options.BatchSize, windows.Count - b));
            float[][] logits = model.Forward(batch, cancellationToken);
            float[][]? qLogits = quantized?.Forward(batch, cancellationToken);
            for (int s = 0; s < batch.Count; s++)
            {
                int[] tokens = batch[s];
                tokensRun += tokens.Length;
                for (int t = 0; t + 1 < tokens.Length; t++)
                {
                    int target = tokens[t + 1];
                    LogSoftmax(logits[s].AsSpan(t * vocab, vocab), logP);
                    nll -= logP[target];
                    if (qLogits is not null)
                    {
                        LogSoftmax(qLogits[s].AsSpan(t * vocab, vocab), logQ);
                        qNll -= logQ[target];
                        TensorPrimitives.Exp(logP, p);
                        TensorPrimitives.Subtract(logP, logQ, logQ);
                        kl += Math.Max(0.0, TensorPrimitives.Dot(p, logQ));
                        if (TensorPrimitives.IndexOfMax(logits[s].AsSpan(t * vocab, vocab)) == TensorPrimitives.IndexOfMax(qLogits[s].AsSpan(t * vocab, vocab)))
                        {
                            agree++;
                        }
                    }

                    scored++;
                }
            }

            progress?.Report(new EvaluationProgress(scored, totalScored, tokensRun / Math.Max(stopwatch.Elapsed.TotalSeconds, 1e-9)));
        }

        stopwatch.Stop();
        return new EvaluationResult
        {
            TokensScored = scored,
            Windows = windows.Count,
            MeanNll = nll / scored,
            QuantizedMeanNll = quantized is null ? null : qNll / scored,
            MeanKlDivergence = quantized is null ? null : kl / scored,
            Top1Agreement = quantized is null ? null : (double)agree / scored,
            Elapsed = stopwatch.Elapsed,
            TokensPerSecond = tokensRun / Math.Max(stopwatch.Elapsed.TotalSeconds, 1e-9),
        };
    }

    /// <summary>The windows <see cref="Evaluate"/> runs: each is scored at positions 1..length−1.</summary>
    internal static List<int[]> CutWindows(IReadOnlyList<int[]> documents, EvaluationOptions options, int context, int vocabSize)
    {
        var windows = new List<int[]>();
        int? bos = options.BosTokenId;
        int chunk = bos is null ? context : context - 1;
        for (int d = 0; d < documents.Count; d++)
        {
            int[]? doc = documents[d];
            if (doc is null)
            {
                throw new ArgumentNullException(nameof(documents), $"Document {d} is null.");
            }

            int length = Math.Min(doc.Length, options.MaxTokensPerDocument ?? int.MaxValue);
            if (length + (bos is null ? 0 : 1) < 2)
            {
                ThrowHelper.ThrowArgument(nameof(documents), $"Document {d} has {length} token(s){(bos is null ? string.Empty : " plus BOS")}; at least two tokens are needed to score one prediction.");
            }

            for (int i = 0; i < length; i++)
            {
                if ((uint)doc[i] >= (uint)vocabSize)
                {
                    ThrowHelper.ThrowArgumentOutOfRange(nameof(documents), doc[i], $"Token id {doc[i]} at position {i} of document {d} is outside the vocabulary [0, {vocabSize}).");
                }
            }

            for (int start = 0; start < length; start += chunk)
            {
                int n = Math.Min(chunk, length - start);
                if (bos is null && n < 2)
                {
                    break; // a trailing single token has no prediction to score without BOS
                }

                var window = new int[n + (bos is null ? 0 : 1)];
                if (bos is { } id)
                {
                    window[0] = id;
                }

                doc.AsSpan(start, n).CopyTo(window.AsSpan(bos is null ? 0 : 1));
                windows.Add(window);
            }
        }

        return windows;
    }

    private static void LogSoftmax(ReadOnlySpan<float> logits, Span<float> destination)
    {
        float max = TensorPrimitives.Max(logits);
        TensorPrimitives.Subtract(logits, max, destination);
        double sum = 0;
        foreach (float v in destination)
        {
            sum += Math.Exp(v);
        }

        TensorPrimitives.Subtract(destination, (float)Math.Log(sum), destination);
    }
}
