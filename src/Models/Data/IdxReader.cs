using System.Buffers.Binary;
using System.IO.Compression;
using System.Numerics;

namespace PapaActors.Models.Data;

/// <summary>
/// Reads the IDX format of MNIST and Fashion-MNIST (plain or .gz). IDX is a four-byte magic
/// (two zero bytes, a type code, the number of dimensions), big-endian int32 dimensions, then the data.
/// </summary>
public static class IdxReader
{
    private const byte UnsignedByteType = 0x08;

    public sealed record IdxArray(int[] Dimensions, byte[] Data);

    /// <summary>Reads <paramref name="path"/>, or <c>path.gz</c> when only the compressed file exists.</summary>
    public static IdxArray Read(string path, int expectedDimensions)
    {
        var file = ResolvePath(path);
        using var raw = DatasetFile.OpenRead(file);
        try
        {
            using Stream stream = file.EndsWith(".gz", StringComparison.Ordinal) ? new GZipStream(raw, CompressionMode.Decompress) : raw;
            // A plain file's size bounds the data; a .gz file's decompressed size is only known by reading it.
            var available = stream == raw ? (long?)raw.Length : null;
            return Parse(stream, file, expectedDimensions, available);
        }
        catch (InvalidDataException e)
        {
            throw new DatasetFormatException(file, $"corrupt gzip stream ({e.Message})", e);
        }
        catch (EndOfStreamException e)
        {
            throw new DatasetFormatException(file, "truncated: the file ends inside the header", e);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw DatasetFile.Unreadable(file, e);
        }
    }

    /// <summary><paramref name="path"/>, or <c>path.gz</c> when only that exists (a directory or FIFO there counts: it is refused by name).</summary>
    public static string ResolvePath(string path)
    {
        if (Exists(path))
            return path;
        if (Exists(path + ".gz"))
            return path + ".gz";
        throw new DatasetFormatException(path, "file not found (looked for it with and without .gz)");
    }

    private static bool Exists(string path)
    {
        try
        {
            return FileKind.Of(path, followLinks: true) != FileKind.Kind.Missing;
        }
        catch (IOException e)
        {
            throw DatasetFile.Unreadable(path, e);
        }
    }

    private static IdxArray Parse(Stream stream, string file, int expectedDimensions, long? fileLength)
    {
        Span<byte> word = stackalloc byte[4];
        stream.ReadExactly(word);
        if (word[0] != 0 || word[1] != 0)
            throw new DatasetFormatException(file, $"wrong magic number 0x{BinaryPrimitives.ReadUInt32BigEndian(word):x8}: not an IDX file");
        if (word[2] != UnsignedByteType)
            throw new DatasetFormatException(file, $"IDX element type 0x{word[2]:x2} is not supported (expected 0x08, unsigned byte)");
        if (word[3] != expectedDimensions)
            throw new DatasetFormatException(file, $"has {word[3]} dimensions, expected {expectedDimensions}");

        var dimensions = new int[expectedDimensions];
        for (var i = 0; i < dimensions.Length; i++)
        {
            stream.ReadExactly(word);
            dimensions[i] = BinaryPrimitives.ReadInt32BigEndian(word);
            if (dimensions[i] <= 0)
                throw new DatasetFormatException(file, $"dimension {i} is {dimensions[i]}");
        }

        // The header is untrusted: its product can exceed a long, and is checked against what the file can hold before
        // anything is allocated.
        var claimed = dimensions.Aggregate(BigInteger.One, (a, d) => a * d);
        var header = $"header {string.Join(" x ", dimensions)}";
        if (fileLength is { } size && claimed > size - stream.Position)
            throw new DatasetFormatException(file, $"{header} promises {claimed} data bytes, found {size - stream.Position} (truncated file or corrupt header)");
        if (claimed > Array.MaxLength)
            throw new DatasetFormatException(file, $"{header} promises {claimed} data bytes, more than an array can hold (corrupt header)");
        var length = (int)claimed;
        var data = ReadUpTo(stream, length);
        if (data.Length < length)
            throw new DatasetFormatException(file, $"{header} promises {length} data bytes, found {data.Length} (truncated file or corrupt header)");
        if (stream.ReadByte() != -1)
            throw new DatasetFormatException(file, $"has data past the {length} bytes its header promises");
        return new IdxArray(dimensions, data);
    }

    /// <summary>
    /// Reads up to <paramref name="length"/> bytes into a buffer that grows as data arrives, so a header that promises
    /// more than a .gz file really holds costs memory for the real data only.
    /// </summary>
    private static byte[] ReadUpTo(Stream stream, int length)
    {
        var data = new byte[Math.Min(length, 1 << 20)];
        var read = 0;
        while (true)
        {
            read += stream.ReadAtLeast(data.AsSpan(read), data.Length - read, throwOnEndOfStream: false);
            if (read < data.Length)
                return data[..read];
            if (read == length)
                return data;
            Array.Resize(ref data, (int)Math.Min(length, 2L * data.Length));
        }
    }
}
