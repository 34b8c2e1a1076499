using System.Numerics.Tensors;
using LowBitQuant.Internal;

namespace LowBitQuant;

/// <summary>Greedy decoding with a <see cref="LlamaModel"/>.</summary>
/// <remarks>There is no key/value cache: each step re-runs the whole prefix (cost grows with the square of the length), which is
/// simple and exact, and fine for the small models this runtime checks; the runtime's purpose is calibration and evaluation.</remarks>
public static class LlamaGenerator
{
    /// <summary>Appends up to <paramref name="steps"/> tokens, each the arg-max of the next-token logits.</summary>
    /// <param name="model">The model.</param>
    /// <param name="prompt">At least one token (e.g. BOS).</param>
    /// <param name="steps">Tokens to generate; generation also stops at <paramref name="stopTokenId"/> or at the model's context.</param>
    /// <param name="stopTokenId">A token that ends generation (not included in the result); null for none.</param>
    /// <param name="cancellationToken">Cancels between steps.</param>
    /// <returns>The generated tokens, without the prompt.</returns>
    /// <exception cref="ArgumentException">The prompt is empty or longer than the context.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="steps"/> is negative, or a token id is out of range.</exception>
    public static int[] GenerateGreedy(LlamaModel model, IReadOnlyList<int> prompt, int steps, int? stopTokenId = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(prompt);
        if (steps < 0)
        {
            ThrowHelper.ThrowArgumentOutOfRange(nameof(steps), steps, "The number of steps must not be negative.");
        }

        if (prompt.Count == 0)
        {
            ThrowHelper.ThrowArgument(nameof(prompt), "The prompt needs at least one token (e.g. BOS).");
        }

        var tokens = new List<int>(prompt);
        var generated = new List<int>();
        int vocab = model.Config.VocabSize;
        while (generated.Count < steps && tokens.Count < model.Config.MaxSequenceLength)
        {
            cancellationToken.ThrowIfCancellationRequested();
            float[] logits = model.Forward(tokens.ToArray(), cancellationToken);
            int next = TensorPrimitives.IndexOfMax(logits.AsSpan((tokens.Count - 1) * vocab, vocab));
            if (next == stopTokenId)
            {
                break;
            }

            tokens.Add(next);
            generated.Add(next);
        }

        return [.. generated];
    }
}
