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
        var images = new List<byte[]>();
        var labels = new List<byte>();
        foreach (var name in files)
        {
            var path = System.IO.Path.Combine(folder, name);
            if (!File.Exists(path))
                throw new DatasetFormatException(path, "file not found");
            var bytes = File.ReadAllBytes(path);
            if (bytes.Length == 0 || bytes.Length % recordSize != 0)
                throw new DatasetFormatException(path, $"size {bytes.Length} is not a whole number of {recordSize}-byte CIFAR-{classes} records (truncated or wrong format)");
            for (var offset = 0; offset < bytes.Length; offset += recordSize)
            {
                var label = bytes[offset + labelBytes - 1];
                if (label >= classes)
                    throw new DatasetFormatException(path, $"record {offset / recordSize} has label {label}, but CIFAR-{classes} has {classes} classes");
                labels.Add(label);
                images.Add(bytes.AsSpan(offset + labelBytes, Pixels).ToArray());
            }
        }
        var flat = new byte[images.Count * Pixels];
        for (var i = 0; i < images.Count; i++)
            images[i].CopyTo(flat, i * Pixels);
        return new Records(flat, labels.ToArray());
    }
}
