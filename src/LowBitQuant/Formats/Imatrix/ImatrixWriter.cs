using System.Text;
using LowBitQuant.Internal;

namespace LowBitQuant.Formats.Imatrix;

/// <summary>
/// Writes llama.cpp's legacy importance-matrix file (<c>.dat</c>, read by <c>llama-quantize --imatrix</c>) from Hessian diagonals:
/// one entry per GGUF tensor with values = mean x² per input column and ncall = 1, plus the optional dataset trailer.
/// </summary>
/// <remarks>
/// Can represent: any positive number of entries with non-empty names, diagonals of at least one finite, non-negative value.
/// Near-zero columns are floored at 1e-6 · (mean of that entry) because llama.cpp's least-squares fits break on zero weights;
/// an all-zero entry is written as uniform 1.0. Non-finite values are refused. Output is deterministic (entries in the order given).
/// </remarks>
public static class ImatrixWriter
{
    /// <summary>Writes <paramref name="entries"/> (GGUF tensor name → estimate whose diagonal is used) to <paramref name="path"/> atomically.</summary>
    /// <param name="path">Destination file.</param>
    /// <param name="entries">GGUF tensor names (e.g. <c>blk.0.attn_q.weight</c>) and their estimates.</param>
    /// <param name="dataset">Calibration data name for the trailer; the trailer is omitted when null.</param>
    /// <exception cref="ArgumentException">No entries, an empty or duplicate name, or a non-finite diagonal value.</exception>
    public static void Write(string path, IReadOnlyList<KeyValuePair<string, HessianEstimate>> entries, string? dataset = null)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(entries);
        if (entries.Count == 0)
        {
            ThrowHelper.ThrowArgument(nameof(entries), "An imatrix file needs at least one entry.");
        }

        var seen = new HashSet<string>(StringComparer.Ordinal);
        var prepared = new List<(byte[] Name, float[] Values)>();
        foreach (var (name, estimate) in entries)
        {
            if (string.IsNullOrEmpty(name) || !seen.Add(name))
            {
                ThrowHelper.ThrowArgument(nameof(entries), $"Imatrix entry names must be non-empty and unique; '{name}' is not.");
            }

            ArgumentNullException.ThrowIfNull(estimate, nameof(entries));
            prepared.Add((Encoding.UTF8.GetBytes(name), PrepareValues(name, estimate.Diagonal.Span)));
        }

        AtomicFile.Write(path, stream =>
        {
            using var w = new BinaryWriter(stream, Encoding.UTF8, leaveOpen: true);
            w.Write(prepared.Count);
            foreach (var (name, values) in prepared)
            {
                w.Write(name.Length);
                w.Write(name);
                w.Write(1); // ncall: values are plain means
                w.Write(values.Length);
                foreach (float v in values)
                {
                    w.Write(v);
                }
            }

            if (dataset is not null)
            {
                var d = Encoding.UTF8.GetBytes(dataset);
                w.Write(1); // last_call
                w.Write(d.Length);
                w.Write(d);
            }
        });
    }

    private static float[] PrepareValues(string name, ReadOnlySpan<float> diagonal)
    {
        int bad = Validation.IndexOfNonFinite(diagonal);
        if (bad >= 0)
        {
            ThrowHelper.ThrowArgument("entries", $"Imatrix entry '{name}' holds a non-finite value at column {bad}; llama.cpp refuses such files.");
        }

        double mean = 0;
        foreach (float v in diagonal)
        {
            mean += v;
        }

        mean /= diagonal.Length;
        var values = new float[diagonal.Length];
        if (mean <= 0)
        {
            Array.Fill(values, 1f);
            return values;
        }

        float floor = (float)(1e-6 * mean);
        for (int j = 0; j < values.Length; j++)
        {
            values[j] = Math.Max(diagonal[j], floor);
        }

        return values;
    }
}
