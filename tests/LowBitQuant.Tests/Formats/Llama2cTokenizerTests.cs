using System.Text;
using LowBitQuant.Formats;
using LowBitQuant.Formats.Llama2c;
using LowBitQuant.Tests.TestUtilities;

namespace LowBitQuant.Tests.Formats;

public class Llama2cTokenizerTests
{
    private static Llama2cTokenizer Load() => Llama2cTokenizer.Load(SharedData.Require("models/stories260K/tok512.bin"), 512);

    /// <summary>run.c's encode, literally: O(n²) rescans for the leftmost highest-score merge (docs/formats/llama2c.md §4).</summary>
    private static int[] ReferenceEncode(Llama2cTokenizer tok, string text, bool bos)
    {
        var lookup = new Dictionary<string, int>();
        for (int i = 0; i < tok.VocabSize; i++)
        {
            lookup.TryAdd(Encoding.Latin1.GetString(tok.GetPiece(i)), i);
        }

        var ids = new List<int>();
        if (bos)
        {
            ids.Add(1);
        }

        byte[] bytes = Encoding.UTF8.GetBytes(text);
        var list = new List<int>();
        if (bytes.Length > 0)
        {
            list.Add(lookup[" "]);
        }

        var buf = new List<byte>();
        for (int i = 0; i < bytes.Length; i++)
        {
            if ((bytes[i] & 0xC0) != 0x80)
            {
                buf.Clear();
            }

            buf.Add(bytes[i]);
            if (i + 1 < bytes.Length && (bytes[i + 1] & 0xC0) == 0x80 && buf.Count < 4)
            {
                continue;
            }

            if (lookup.TryGetValue(Encoding.Latin1.GetString(buf.ToArray()), out int id))
            {
                list.Add(id);
            }
            else
            {
                list.AddRange(buf.Select(b => b + 3));
            }

            buf.Clear();
        }

        while (true)
        {
            float best = float.NegativeInfinity;
            int bestId = -1, bestIdx = -1;
            for (int i = 0; i + 1 < list.Count; i++)
            {
                string s = Encoding.Latin1.GetString(tok.GetPiece(list[i])) + Encoding.Latin1.GetString(tok.GetPiece(list[i + 1]));
                if (lookup.TryGetValue(s, out int id) && tok.GetScore(id) > best)
                {
                    best = tok.GetScore(id);
                    bestId = id;
                    bestIdx = i;
                }
            }

            if (bestIdx < 0)
            {
                break;
            }

            list[bestIdx] = bestId;
            list.RemoveAt(bestIdx + 1);
        }

        ids.AddRange(list);
        return [.. ids];
    }

    [SkippableFact]
    public void VocabularyMatchesTheSpec()
    {
        Llama2cTokenizer tok = Load();
        Assert.Equal(7, tok.MaxTokenLength);
        Assert.Equal("<unk>", Encoding.UTF8.GetString(tok.GetPiece(0)));
        Assert.Equal("\n<s>\n", Encoding.UTF8.GetString(tok.GetPiece(1)));
        Assert.Equal("<0x41>", Encoding.UTF8.GetString(tok.GetPiece(0x41 + 3)));
        Assert.Equal(" ", Encoding.UTF8.GetString(tok.GetPiece(410)));
    }

    [SkippableTheory]
    [InlineData("")]
    [InlineData("a")]
    [InlineData("Once upon a time, there was a little girl named Lily.")]
    [InlineData("  double  spaces\tand\ttabs\n\nnewlines")]
    [InlineData("Ünïcödé → 日本語 😀 and the bytes")]
    [InlineData("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")]
    public void FastEncoderEqualsRunCEncoder(string text)
    {
        Llama2cTokenizer tok = Load();
        Assert.Equal(ReferenceEncode(tok, text, bos: true), tok.Encode(text, addBos: true, addEos: false));
    }

    [SkippableFact]
    public void FastEncoderEqualsRunCEncoderOnAustenSlices()
    {
        Llama2cTokenizer tok = Load();
        string text = File.ReadAllText(SharedData.Require("corpora/janeausten/persuasion.txt"));
        var rng = new Random(42);
        for (int trial = 0; trial < 8; trial++)
        {
            int start = rng.Next(text.Length - 2000);
            string slice = text.Substring(start, rng.Next(1, 600));
            Assert.Equal(ReferenceEncode(tok, slice, bos: false), tok.Encode(slice, addBos: false, addEos: false));
        }
    }

    [SkippableFact]
    public void EncodeDecodeRoundTripsAustenText()
    {
        Llama2cTokenizer tok = Load();
        string text = File.ReadAllText(SharedData.Require("corpora/janeausten/emma.txt"))[..20000] + " — naïve café ✓";
        int[] ids = tok.Encode(text, addBos: true, addEos: true);
        Assert.Equal(1, ids[0]);
        Assert.Equal(2, ids[^1]);
        Assert.True(ids.Length < text.Length * 0.8, $"merges should compress the text ({ids.Length} tokens for {text.Length} chars)");
        Assert.Equal(text, tok.Decode(ids));
    }

    [SkippableFact]
    public void DecodeRejectsOutOfRangeIds()
    {
        Llama2cTokenizer tok = Load();
        Assert.Equal("ids", Assert.Throws<ArgumentOutOfRangeException>(() => tok.Decode([1, 512])).ParamName);
        Assert.Equal("id", Assert.Throws<ArgumentOutOfRangeException>(() => tok.GetPiece(-1)).ParamName);
    }

    [SkippableFact]
    public void TruncatedOrOversizedFilesAreRejected()
    {
        byte[] bytes = File.ReadAllBytes(SharedData.Require("models/stories260K/tok512.bin"));
        string dir = Directory.CreateTempSubdirectory("lbq-tok").FullName;
        try
        {
            string truncated = Path.Combine(dir, "t.bin");
            File.WriteAllBytes(truncated, bytes[..(bytes.Length - 3)]);
            var ex = Assert.Throws<InvalidCheckpointException>(() => Llama2cTokenizer.Load(truncated, 512));
            Assert.Contains("token 511", ex.Message);
            Assert.Contains("trailing bytes", Assert.Throws<InvalidCheckpointException>(() => Llama2cTokenizer.Load(SharedData.Require("models/stories260K/tok512.bin"), 500)).Message);
            Assert.Equal("vocabSize", Assert.Throws<ArgumentOutOfRangeException>(() => Llama2cTokenizer.Load(truncated, 100)).ParamName);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
