using System.Buffers.Binary;
using System.Text;
using LowBitQuant.Internal;

namespace LowBitQuant.Formats.Llama2c;

/// <summary>
/// The llama2.c tokenizer (<c>tok512.bin</c> and its kin): <c>int32 max_token_length</c>, then per token <c>float32 score</c>,
/// <c>int32 len</c>, <c>len</c> bytes. Encoding follows <c>run.c</c> exactly: optional BOS, the dummy-prefix space, one token
/// per UTF-8 code point (byte fallback <c>byte + 3</c> when the code point is not a token), then repeated merging of the adjacent
/// pair whose concatenation has the highest score (leftmost on ties) until none merges.
/// </summary>
/// <remarks>
/// The merge loop runs on a priority queue keyed by (score, leftmost position) with a linked list of symbols and lazy
/// invalidation: every adjacent pair that exists at any step has been queued, so the popped valid entry is always the
/// leftmost highest-score pair, the same choice as run.c's O(n²) rescan, in O(n log n).
/// </remarks>
public sealed class Llama2cTokenizer
{
    /// <summary>The id of the unknown token (<c>&lt;unk&gt;</c>).</summary>
    public const int UnknownId = 0;

    /// <summary>The id of the beginning-of-sequence token.</summary>
    public const int BosId = 1;

    /// <summary>The id of the end-of-sequence token.</summary>
    public const int EosId = 2;

    /// <summary>Byte fallback: raw byte b is token <c>b + ByteOffset</c>.</summary>
    public const int ByteOffset = 3;

    private static readonly Encoding Latin1 = Encoding.Latin1;

    private readonly byte[][] _pieces;
    private readonly float[] _scores;
    private readonly Dictionary<string, int> _ids;
    private readonly int _spaceId;

    private Llama2cTokenizer(byte[][] pieces, float[] scores, int maxTokenLength, string path)
    {
        _pieces = pieces;
        _scores = scores;
        MaxTokenLength = maxTokenLength;
        _ids = new Dictionary<string, int>(pieces.Length, StringComparer.Ordinal);
        for (int i = 0; i < pieces.Length; i++)
        {
            // Latin-1 maps each byte to one char, so keys compare as byte strings; the first occurrence wins, as run.c's sorted lookup would for unique strings.
            _ids.TryAdd(Latin1.GetString(pieces[i]), i);
        }

        if (!_ids.TryGetValue(" ", out _spaceId))
        {
            throw new InvalidCheckpointException(path, "the vocabulary has no single-space token, which the encoder needs as its dummy prefix.");
        }
    }

    /// <summary>Number of tokens.</summary>
    public int VocabSize => _pieces.Length;

    /// <summary>The longest piece in bytes, as stated by the file.</summary>
    public int MaxTokenLength { get; }

    /// <summary>Loads a tokenizer file holding <paramref name="vocabSize"/> tokens (the count comes from the model, not the file).</summary>
    /// <exception cref="ArgumentException"><paramref name="path"/> is empty.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="vocabSize"/> is smaller than <c>ByteOffset + 256</c>.</exception>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="InvalidCheckpointException">The file is truncated, has trailing bytes, or a piece has a negative length.</exception>
    public static Llama2cTokenizer Load(string path, int vocabSize)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (vocabSize < ByteOffset + 256)
        {
            ThrowHelper.ThrowArgumentOutOfRange(nameof(vocabSize), vocabSize, $"A llama2.c vocabulary holds at least {ByteOffset + 256} tokens (specials and byte fallback).");
        }

        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"Tokenizer '{path}' not found.", path);
        }

        byte[] bytes = File.ReadAllBytes(path);
        int pos = 0;
        int ReadInt(string what)
        {
            if (pos + 4 > bytes.Length)
            {
                throw new InvalidCheckpointException(path, $"the file ends inside {what} (offset {pos}).");
            }

            int value = BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan(pos));
            pos += 4;
            return value;
        }

        int maxLen = ReadInt("max_token_length");
        var pieces = new byte[vocabSize][];
        var scores = new float[vocabSize];
        for (int i = 0; i < vocabSize; i++)
        {
            scores[i] = BitConverter.Int32BitsToSingle(ReadInt($"the score of token {i}"));
            int len = ReadInt($"the length of token {i}");
            if (len < 0 || pos + len > bytes.Length)
            {
                throw new InvalidCheckpointException(path, $"token {i} claims {len} bytes at offset {pos}, but the file has {bytes.Length} bytes (fewer tokens than the model's vocabulary of {vocabSize}?).");
            }

            pieces[i] = bytes.AsSpan(pos, len).ToArray();
            pos += len;
        }

        if (pos != bytes.Length)
        {
            throw new InvalidCheckpointException(path, $"{bytes.Length - pos} trailing bytes after {vocabSize} tokens: the file holds more tokens than the model's vocabulary.");
        }

        return new Llama2cTokenizer(pieces, scores, maxLen, path);
    }

    /// <summary>The bytes of a token's piece.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="id"/> is outside the vocabulary.</exception>
    public ReadOnlySpan<byte> GetPiece(int id)
    {
        CheckId(id, nameof(id));
        return _pieces[id];
    }

    /// <summary>The merge score of a token.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="id"/> is outside the vocabulary.</exception>
    public float GetScore(int id)
    {
        CheckId(id, nameof(id));
        return _scores[id];
    }

    /// <summary>Encodes <paramref name="text"/> (as UTF-8) exactly as llama2.c's <c>encode</c>.</summary>
    /// <exception cref="ArgumentNullException"><paramref name="text"/> is null.</exception>
    public int[] Encode(string text, bool addBos, bool addEos)
    {
        ArgumentNullException.ThrowIfNull(text);
        return Encode(Encoding.UTF8.GetBytes(text), addBos, addEos);
    }

    /// <summary>Encodes UTF-8 bytes exactly as llama2.c's <c>encode</c>.</summary>
    public int[] Encode(ReadOnlySpan<byte> utf8, bool addBos, bool addEos)
    {
        var symbols = new List<int>(utf8.Length + 1);
        if (utf8.Length > 0)
        {
            symbols.Add(_spaceId);
        }

        int i = 0;
        while (i < utf8.Length)
        {
            int start = i++;
            while (i < utf8.Length && (utf8[i] & 0xC0) == 0x80 && i - start < 4)
            {
                i++;
            }

            ReadOnlySpan<byte> codePoint = utf8[start..i];
            if (_ids.TryGetValue(Latin1.GetString(codePoint), out int id))
            {
                symbols.Add(id);
            }
            else
            {
                foreach (byte b in codePoint)
                {
                    symbols.Add(b + ByteOffset);
                }
            }
        }

        List<int> merged = Merge(symbols);
        var result = new List<int>(merged.Count + 2);
        if (addBos)
        {
            result.Add(BosId);
        }

        result.AddRange(merged);
        if (addEos)
        {
            result.Add(EosId);
        }

        return [.. result];
    }

    /// <summary>
    /// Decodes ids to text: pieces' bytes concatenated (<c>&lt;0xNN&gt;</c> pieces as raw byte NN), dropping one leading space
    /// of a piece that follows BOS, then read as UTF-8. BOS and EOS pieces are skipped.
    /// </summary>
    /// <exception cref="ArgumentNullException"><paramref name="ids"/> is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException">An id is outside the vocabulary.</exception>
    public string Decode(IEnumerable<int> ids)
    {
        ArgumentNullException.ThrowIfNull(ids);
        var bytes = new List<byte>();
        int previous = -1;
        foreach (int id in ids)
        {
            CheckId(id, nameof(ids));
            if (id is not (BosId or EosId))
            {
                AppendPiece(previous, id, bytes);
            }

            previous = id;
        }

        return Encoding.UTF8.GetString([.. bytes]);
    }

    /// <summary>The bytes of one token as decoded after <paramref name="previous"/> (for streaming output).</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="id"/> is outside the vocabulary.</exception>
    public byte[] DecodePiece(int previous, int id)
    {
        CheckId(id, nameof(id));
        var bytes = new List<byte>();
        AppendPiece(previous, id, bytes);
        return [.. bytes];
    }

    private void AppendPiece(int previous, int id, List<byte> bytes)
    {
        ReadOnlySpan<byte> piece = _pieces[id];
        if (previous == BosId && piece.Length > 0 && piece[0] == (byte)' ')
        {
            piece = piece[1..];
        }

        if (piece.Length == 6 && piece[0] == '<' && piece[1] == '0' && piece[2] == 'x' && piece[5] == '>'
            && IsHex(piece[3]) && IsHex(piece[4]))
        {
            bytes.Add((byte)((HexValue(piece[3]) << 4) | HexValue(piece[4])));
            return;
        }

        foreach (byte b in piece)
        {
            bytes.Add(b);
        }
    }

    private List<int> Merge(List<int> symbols)
    {
        int n = symbols.Count;
        var ids = symbols.ToArray();
        var next = new int[n];
        var prev = new int[n];
        var alive = new bool[n];
        for (int i = 0; i < n; i++)
        {
            next[i] = i + 1 < n ? i + 1 : -1;
            prev[i] = i - 1;
            alive[i] = true;
        }

        // Max-score first, then leftmost; node index order equals left-to-right order because a merged symbol keeps its left node.
        var queue = new PriorityQueue<(int Left, int Right, int LeftId, int RightId, int Merged), (float NegScore, int Left)>();
        void TryQueue(int left)
        {
            int right = next[left];
            if (right < 0)
            {
                return;
            }

            string key = Latin1.GetString(_pieces[ids[left]]) + Latin1.GetString(_pieces[ids[right]]);
            if (_ids.TryGetValue(key, out int merged))
            {
                queue.Enqueue((left, right, ids[left], ids[right], merged), (-_scores[merged], left));
            }
        }

        for (int i = 0; i + 1 < n; i++)
        {
            TryQueue(i);
        }

        while (queue.TryDequeue(out var pair, out _))
        {
            if (!alive[pair.Left] || !alive[pair.Right] || next[pair.Left] != pair.Right || ids[pair.Left] != pair.LeftId || ids[pair.Right] != pair.RightId)
            {
                continue;
            }

            ids[pair.Left] = pair.Merged;
            alive[pair.Right] = false;
            next[pair.Left] = next[pair.Right];
            if (next[pair.Right] >= 0)
            {
                prev[next[pair.Right]] = pair.Left;
            }

            if (prev[pair.Left] >= 0)
            {
                TryQueue(prev[pair.Left]);
            }

            TryQueue(pair.Left);
        }

        var result = new List<int>();
        for (int i = n > 0 ? 0 : -1; i >= 0; i = next[i])
        {
            result.Add(ids[i]);
        }

        return result;
    }

    private void CheckId(int id, string paramName)
    {
        if ((uint)id >= (uint)_pieces.Length)
        {
            ThrowHelper.ThrowArgumentOutOfRange(paramName, id, $"Token id {id} is outside the vocabulary [0, {_pieces.Length}).");
        }
    }

    private static bool IsHex(byte b) => b is (>= (byte)'0' and <= (byte)'9') or (>= (byte)'A' and <= (byte)'F') or (>= (byte)'a' and <= (byte)'f');

    private static int HexValue(byte b) => b <= '9' ? b - '0' : (b | 0x20) - 'a' + 10;
}
