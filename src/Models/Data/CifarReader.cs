namespace PapaActors.Models.Data;

/// <summary>
/// Reads the CIFAR binary format: fixed-size records of label byte(s) followed by 3x32x32 pixels (planar RGB).
/// CIFAR-10 records carry one label byte; CIFAR-100 records carry a coarse and a fine label (we use the fine one).
/// </summary>
public static class CifarReader
{
    public const int Pixels = 3 * 32 * 32;

    public sealed record Records(byte[] Images, byte[] Labels);

    public static readonly string[] Cifar10TrainFiles = ["data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin"];
    public static readonly string[] Cifar10TestFiles = ["test_batch.bin"];
    public static readonly string[] Cifar100TrainFiles = ["train.bin"];
    public static readonly string[] Cifar100TestFiles = ["test.bin"];

    public static Records Read(string folder, IEnumerable<string> files, int classes)
    {
        var labelBytes = classes == 100 ? 2 : 1;
        var recordSize = labelBytes + Pixels;
        var paths = files.Select(name => System.IO.Path.Combine(folder, name)).ToList();
        foreach (var path in paths)
            DatasetFile.OpenRead(path).Dispose();
        // Records are copied straight into one array sized from the files: no per-image arrays to collect later.
        var count = paths.Sum(p => new FileInfo(p).Length / recordSize);
        var images = new byte[count * Pixels];
        var labels = new byte[count];
        var record = 0;
        foreach (var path in paths)
        {
            var bytes = ReadAll(path);
            if (bytes.Length == 0 || bytes.Length % recordSize != 0)
                throw new DatasetFormatException(path, $"size {bytes.Length} is not a whole number of {recordSize}-byte CIFAR-{classes} records (truncated or wrong format)");
            for (var offset = 0; offset < bytes.Length; offset += recordSize, record++)
            {
                var label = bytes[offset + labelBytes - 1];
                if (label >= classes)
                    throw new DatasetFormatException(path, $"record {offset / recordSize} has label {label}, but CIFAR-{classes} has {classes} classes");
                labels[record] = label;
                bytes.AsSpan(offset + labelBytes, Pixels).CopyTo(images.AsSpan(record * Pixels));
            }
        }
        return new Records(images, labels);
    }

    private static byte[] ReadAll(string path)
    {
        using var stream = DatasetFile.OpenRead(path);
        try
        {
            var bytes = new byte[stream.Length];
            stream.ReadExactly(bytes);
            // Reading on past the size also finds a file whose size says nothing (a /proc file says 0) and fails to read.
            return stream.ReadByte() == -1 ? bytes : throw new DatasetFormatException(path, "the file grew while it was read");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw DatasetFile.Unreadable(path, e);
        }
    }
}
