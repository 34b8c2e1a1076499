using System.Buffers.Binary;
using System.Text;
using LowBitQuant.Formats.Safetensors;

namespace LowBitQuant.Tests.Formats.Safetensors;

/// <summary>A fresh temporary folder per test, deleted afterwards; tests assert on everything left inside it.</summary>
internal sealed class TempFolder : IDisposable
{
    public string Path { get; } = Directory.CreateTempSubdirectory("lowbitquant-st-").FullName;

    public string File(string name = "model.safetensors") => System.IO.Path.Combine(Path, name);

    public string[] Entries() => [.. Directory.GetFileSystemEntries(Path).Select(System.IO.Path.GetFileName).Order(StringComparer.Ordinal)!];

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

/// <summary>Builds safetensors files byte by byte, so that each malformed case differs from a valid one by one rule.</summary>
internal static class SafetensorsBytes
{
    /// <summary>[N as u64 LE][header, space-padded to 8 when <paramref name="pad"/>][data: bytes 0, 1, 2, …].</summary>
    public static byte[] Build(string header, long dataLength = 0, bool pad = true, ulong? declaredLength = null) =>
        Build(Encoding.UTF8.GetBytes(header), dataLength, pad, declaredLength);

    public static byte[] Build(byte[] header, long dataLength = 0, bool pad = true, ulong? declaredLength = null)
    {
        int padded = pad ? (header.Length + 7) & ~7 : header.Length;
        var file = new byte[8 + padded + dataLength];
        BinaryPrimitives.WriteUInt64LittleEndian(file, declaredLength ?? (ulong)padded);
        header.CopyTo(file, 8);
        file.AsSpan(8 + header.Length, padded - header.Length).Fill((byte)' ');
        for (long i = 0; i < dataLength; i++)
        {
            file[8 + padded + i] = (byte)i;
        }

        return file;
    }

    /// <summary>Runs the reader's validation on in-memory bytes (no file), as <see cref="SafetensorsReader.Open"/> does.</summary>
    public static void Validate(byte[] file, string path = "memory.safetensors")
    {
        int n = SafetensorsHeader.ReadLength(file.AsSpan(0, Math.Min(8, file.Length)), file.Length, path);
        SafetensorsHeader.Parse(file.AsSpan(8, n), file.Length, path);
    }
}
