using PapaActors.Models.Data;
using PapaActors.Models.Training;

namespace PapaActors.Host;

/// <summary>
/// Random files in the CIFAR-10 binary format: for measuring speed and memory without the real dataset (which
/// this machine cannot download); neither depends on what the pixels show.
/// </summary>
internal static class CifarFiles
{
    /// <summary>
    /// Writes <paramref name="trainImages"/> records over the five data_batch files and <paramref name="testImages"/>
    /// into test_batch.bin, each a label in 0..9 and 3072 pixels drawn from a generator seeded with <paramref name="seed"/>.
    /// </summary>
    public static void WriteRandom(string folder, int trainImages, int testImages, int seed)
    {
        if (trainImages < CifarReader.Cifar10TrainFiles.Length || testImages < 1)
            throw new ArgumentException($"need at least {CifarReader.Cifar10TrainFiles.Length} training images (one a file) and 1 test image");
        Directory.CreateDirectory(folder);
        var random = new Random(seed);
        var trainFiles = CifarReader.Cifar10TrainFiles;
        var files = trainFiles.Select((name, i) => (name, Count: (int)Evaluation.Slice(trainImages, i, trainFiles.Length).Count))
            .Append((CifarReader.Cifar10TestFiles[0], testImages));
        foreach (var (name, count) in files)
        {
            var bytes = new byte[count * (1 + CifarReader.Pixels)];
            random.NextBytes(bytes);
            for (var record = 0; record < count; record++)
                bytes[record * (1 + CifarReader.Pixels)] = (byte)random.Next(10);
            File.WriteAllBytes(Path.Combine(folder, name), bytes);
        }
    }

    public static Task<int> WriteAsync(string folder, int trainImages, int testImages)
    {
        WriteRandom(folder, trainImages, testImages, seed: 1);
        Spectre.Console.AnsiConsole.MarkupLineInterpolated($"{trainImages} training and {testImages} test images in CIFAR-10 format written to {folder}");
        return Task.FromResult(ExitCodes.Success);
    }
}
