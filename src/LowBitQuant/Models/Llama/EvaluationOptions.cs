using LowBitQuant.Internal;

namespace LowBitQuant;

/// <summary>How <see cref="LlamaEvaluator"/> cuts documents into windows.</summary>
public sealed class EvaluationOptions
{
    private readonly int? _contextLength;
    private readonly int? _maxTokensPerDocument;
    private readonly int _batchSize = 4;

    /// <summary>Window length in tokens (including BOS when <see cref="BosTokenId"/> is set); null = the model's context.</summary>
    /// <exception cref="ArgumentOutOfRangeException">Less than 2.</exception>
    public int? ContextLength
    {
        get => _contextLength;
        init
        {
            if (value is < 2)
            {
                ThrowHelper.ThrowArgumentOutOfRange(nameof(ContextLength), value, "A window needs at least two tokens.");
            }

            _contextLength = value;
        }
    }

    /// <summary>Only the first this-many text tokens of each document are used; null = all.</summary>
    /// <exception cref="ArgumentOutOfRangeException">Less than 1.</exception>
    public int? MaxTokensPerDocument
    {
        get => _maxTokensPerDocument;
        init
        {
            if (value is < 1)
            {
                ThrowHelper.ThrowArgumentOutOfRange(nameof(MaxTokensPerDocument), value, "At least one token per document is needed.");
            }

            _maxTokensPerDocument = value;
        }
    }

    /// <summary>
    /// When set, every window starts with this token (BOS) followed by up to <c>context − 1</c> text tokens, and every text token is
    /// scored (the first one predicted from BOS alone). When null, windows hold <c>context</c> text tokens and each window's first
    /// token is not scored.
    /// </summary>
    public int? BosTokenId { get; init; }

    /// <summary>Windows per forward pass.</summary>
    /// <exception cref="ArgumentOutOfRangeException">Less than 1.</exception>
    public int BatchSize
    {
        get => _batchSize;
        init
        {
            if (value < 1)
            {
                ThrowHelper.ThrowArgumentOutOfRange(nameof(BatchSize), value, "The batch size must be positive.");
            }

            _batchSize = value;
        }
    }
}
