using System.Security.Cryptography;
using LowBitQuant.Internal;

namespace LowBitQuant;

/// <summary>
/// Calibration sequences sampled reproducibly from tokenized text: N windows of L tokens, each starting with BOS
/// when one is given, drawn without repetition by a seeded generator from every document.
/// </summary>
public sealed class CalibrationSet
{
    private CalibrationSet(int[][] sequences, int sequenceLength)
    {
        Sequences = sequences;
        SequenceLength = sequenceLength;
        TokenCount = sequences.Sum(s => (long)s.Length);
        var bytes = new byte[sequences.Sum(s => s.Length) * sizeof(int)];
        Buffer.BlockCopy(sequences.SelectMany(s => s).ToArray(), 0, bytes, 0, bytes.Length);
        Fingerprint = Convert.ToHexString(SHA256.HashData(bytes)).ToLowerInvariant();
    }

    /// <summary>The sequences, each <see cref="SequenceLength"/> tokens long.</summary>
    public IReadOnlyList<int[]> Sequences { get; }

    /// <summary>L, tokens per sequence (including BOS).</summary>
    public int SequenceLength { get; }

    /// <summary>Total tokens, N · L.</summary>
    public long TokenCount { get; }

    /// <summary>SHA-256 of the token ids: identifies this calibration set for resume.</summary>
    public string Fingerprint { get; }

    /// <summary>Samples <paramref name="samples"/> windows from tokenized documents.</summary>
    /// <param name="documents">Token ids of each document (without BOS).</param>
    /// <param name="samples">N, at least 1.</param>
    /// <param name="sequenceLength">L, at least 2 (BOS plus one token, or two tokens).</param>
    /// <param name="seed">Seed of the sampler: the same inputs and seed give the same set.</param>
    /// <param name="bosTokenId">Prepended to every window, or <see langword="null"/> for none.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="samples"/> or <paramref name="sequenceLength"/> is too small.</exception>
    /// <exception cref="ArgumentException">The documents hold fewer distinct windows than <paramref name="samples"/>.</exception>
    public static CalibrationSet Sample(IReadOnlyList<int[]> documents, int samples, int sequenceLength, int seed, int? bosTokenId)
    {
        ArgumentNullException.ThrowIfNull(documents);
        if (samples < 1)
        {
            ThrowHelper.ThrowArgumentOutOfRange(nameof(samples), samples, "At least one calibration sequence is required.");
        }

        if (sequenceLength < 2)
        {
            ThrowHelper.ThrowArgumentOutOfRange(nameof(sequenceLength), sequenceLength, "Calibration sequences need at least 2 tokens.");
        }

        int take = bosTokenId is null ? sequenceLength : sequenceLength - 1;
        var windowsPerDocument = documents.Select(d => Math.Max(0L, d.Length - take + 1)).ToArray();
        long windows = windowsPerDocument.Sum();
        if (windows < samples)
        {
            long tokens = documents.Sum(d => (long)d.Length);
            ThrowHelper.ThrowArgument(nameof(documents),
                $"The calibration text is too short: {samples} sequences of {sequenceLength} tokens need at least {samples} distinct windows of {take} text tokens, " +
                $"but the text has {tokens} tokens in {documents.Count} document(s), giving {windows}. Add text, or lower --samples or --sequence-length.");
        }

        var rng = new Random(seed);
        var chosen = new SortedSet<long>();
        while (chosen.Count < samples)
        {
            chosen.Add(rng.NextInt64(windows));
        }

        var sequences = new int[samples][];
        int i = 0;
        foreach (long index in chosen)
        {
            long at = index;
            int doc = 0;
            while (at >= windowsPerDocument[doc])
            {
                at -= windowsPerDocument[doc++];
            }

            var seq = new int[sequenceLength];
            int offset = 0;
            if (bosTokenId is int bos)
            {
                seq[offset++] = bos;
            }

            documents[doc].AsSpan((int)at, take).CopyTo(seq.AsSpan(offset));
            sequences[i++] = seq;
        }

        // Shuffle deterministically so chunks mix documents.
        rng.Shuffle(sequences);
        return new CalibrationSet(sequences, sequenceLength);
    }

    /// <summary>Reads text files (and every <c>*.txt</c> file of folders, in ordinal order), tokenizes each as one document and samples windows.</summary>
    /// <exception cref="FileNotFoundException">A path is neither a file nor a folder.</exception>
    /// <exception cref="ArgumentException">No text was found, or it is too short for the request.</exception>
    public static CalibrationSet FromFiles(IEnumerable<string> paths, Func<string, int[]> encode, int samples, int sequenceLength, int seed, int? bosTokenId)
    {
        ArgumentNullException.ThrowIfNull(paths);
        ArgumentNullException.ThrowIfNull(encode);
        var files = new List<string>();
        foreach (string path in paths)
        {
            if (File.Exists(path))
            {
                files.Add(path);
            }
            else if (Directory.Exists(path))
            {
                files.AddRange(Directory.GetFiles(path, "*.txt").Order(StringComparer.Ordinal));
            }
            else
            {
                throw new FileNotFoundException($"Calibration path '{path}' is neither a file nor a folder.", path);
            }
        }

        if (files.Count == 0)
        {
            ThrowHelper.ThrowArgument(nameof(paths), "No calibration text files were found (folders are searched for *.txt).");
        }

        return Sample(files.Select(f => encode(File.ReadAllText(f))).ToArray(), samples, sequenceLength, seed, bosTokenId);
    }
}
