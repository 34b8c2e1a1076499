using LowBitQuant.Formats.Checkpoints;
using LowBitQuant.Formats.HuggingFace;
using LowBitQuant.Formats.Llama2c;
using LowBitQuant.Internal;

namespace LowBitQuant;

/// <summary>Opens a Llama-family checkpoint in whichever supported layout a path names.</summary>
public static class LlamaCheckpoint
{
    /// <summary>
    /// Opens <paramref name="path"/>: a folder with <c>config.json</c> (Hugging Face layout, single or sharded safetensors; a quantized
    /// GPTQ, compressed-tensors or DASH-Q packed folder is read through <see cref="QuantizedCheckpointReader"/>, dequantizing on read)
    /// or a llama2.c legacy <c>.bin</c> file.
    /// </summary>
    /// <exception cref="ArgumentException">The path is empty, does not exist, or is a folder without <c>config.json</c>.</exception>
    /// <exception cref="Formats.InvalidCheckpointException">The checkpoint is malformed or describes an unsupported architecture.</exception>
    /// <exception cref="Formats.DashQ.InvalidDashQCheckpointException">A DASH-Q packed checkpoint is malformed.</exception>
    public static ILlamaWeightSource Open(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (Directory.Exists(path))
        {
            if (!File.Exists(Path.Combine(path, "config.json")))
            {
                ThrowHelper.ThrowArgument(nameof(path), $"Folder '{path}' has no config.json; expected a Hugging Face model folder or a llama2.c .bin file.");
            }

            return OpenFolder(path);
        }

        if (File.Exists(path))
        {
            if (Path.GetFileName(path) == "config.json")
            {
                return OpenFolder(Path.GetDirectoryName(Path.GetFullPath(path))!);
            }

            return Llama2cCheckpointReader.Open(path);
        }

        ThrowHelper.ThrowArgument(nameof(path), $"Model path '{path}' does not exist.");
        return null;
    }

    private static ILlamaWeightSource OpenFolder(string folder) =>
        QuantizedCheckpointReader.IsQuantizedCheckpoint(folder) ? QuantizedCheckpointReader.Open(folder) : HuggingFaceCheckpointReader.Open(folder);

    /// <summary>
    /// Finds the tokenizer beside a checkpoint: <c>tok{vocab}.bin</c> or <c>tokenizer.bin</c> in the checkpoint's folder.
    /// </summary>
    /// <returns>The tokenizer path, or null when none is found.</returns>
    public static string? FindLlama2cTokenizer(string modelPath, int vocabSize)
    {
        ArgumentException.ThrowIfNullOrEmpty(modelPath);
        string folder = Directory.Exists(modelPath) ? modelPath : Path.GetDirectoryName(Path.GetFullPath(modelPath)) ?? ".";
        foreach (string name in new[] { $"tok{vocabSize}.bin", "tokenizer.bin" })
        {
            string candidate = Path.Combine(folder, name);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        return null;
    }
}
